"""The checkpoint fetch: pinned, verified, resumed, re-checked on every start, never used partial."""

import hashlib
import io
import random
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.checkpoints import COMPLETE_MARKER, ChecksumError, PinError, ensure_checkpoints


WEIGHTS = random.Random(1).randbytes(50_000)  # incompressible, like real weights


def make_archive(extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("checkpoints_v2/converter/config.json", '{"model": {}}')
        archive.writestr("checkpoints_v2/converter/checkpoint.pth", WEIGHTS)
        archive.writestr("checkpoints_v2/base_speakers/ses/en-newest.pth", b"\x02" * 1000)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


ARCHIVE = make_archive()
PIN = hashlib.sha256(ARCHIVE).hexdigest()


class ModelServer:
    """Serves one archive on 127.0.0.1 and honours Range requests like S3 (416 past the end);
    each answer waits `delay` seconds first."""

    def __init__(self, payload: bytes, delay: float = 0.0) -> None:
        self.payload = payload
        self.requests: list = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                time.sleep(delay)
                outer.requests.append(self.headers.get("Range"))
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                if start >= len(outer.payload):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = outer.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/openvoice/checkpoints_v2_0417.zip"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_fetches_verifies_unpacks_and_reuses(tmp_path: Path, server):
    logs: list = []
    target = ensure_checkpoints(tmp_path, server.url, PIN, log=logs.append)
    assert (target / "converter" / "checkpoint.pth").read_bytes() == WEIGHTS
    assert (target / COMPLETE_MARKER).exists()
    assert ensure_checkpoints(tmp_path, server.url, PIN) == target
    assert server.requests == [None]  # the second start downloaded nothing


def test_nothing_is_fetched_without_a_pinned_sha256(tmp_path: Path, server):
    for pin in (None, "", "abc", "Z" * 64):
        with pytest.raises(PinError, match="is not pinned"):
            ensure_checkpoints(tmp_path, server.url, pin)
    assert server.requests == []  # no trust on first use: not even a download
    assert not any(p.name.endswith(".sha256") for p in tmp_path.iterdir())


def test_resumes_an_interrupted_download_with_a_range_request(tmp_path: Path, server):
    (tmp_path / "checkpoints_v2_0417.zip.part").write_bytes(ARCHIVE[:1000])
    target = ensure_checkpoints(tmp_path, server.url, PIN)
    assert server.requests == ["bytes=1000-"]
    assert (target / "base_speakers" / "ses" / "en-newest.pth").exists()


def test_a_complete_part_is_used_when_the_server_answers_416(tmp_path: Path, server):
    (tmp_path / "checkpoints_v2_0417.zip.part").write_bytes(ARCHIVE)
    target = ensure_checkpoints(tmp_path, server.url, PIN)
    assert server.requests == [f"bytes={len(ARCHIVE)}-"]
    assert (target / "converter" / "checkpoint.pth").read_bytes() == WEIGHTS


def test_the_download_has_a_timeout(tmp_path: Path, server):
    seen = []

    def opener(request, **options):
        seen.append(options)
        return urllib.request.urlopen(request, **options)

    ensure_checkpoints(tmp_path, server.url, PIN, opener=opener)
    assert seen == [{"timeout": 60}]


def test_a_partial_download_is_never_used(tmp_path: Path):
    (tmp_path / "checkpoints_v2_0417.zip.part").write_bytes(ARCHIVE[:1000])
    # The server now serves a truncated archive: the result fails its check and is discarded.
    with ModelServer(ARCHIVE[:20_000]) as server:
        with pytest.raises(ChecksumError, match="does not match the pinned"):
            ensure_checkpoints(tmp_path, server.url, PIN)
    assert not (tmp_path / "checkpoints_v2_0417").exists()
    assert not (tmp_path / "checkpoints_v2_0417.zip").exists()


def test_a_pinned_checksum_that_does_not_match_is_refused(tmp_path: Path, server):
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        ensure_checkpoints(tmp_path, server.url, "0" * 64)
    assert not (tmp_path / "checkpoints_v2_0417").exists()


def test_a_corrupted_member_fails_its_crc(tmp_path: Path):
    corrupted = bytearray(ARCHIVE)
    corrupted[len(corrupted) // 3] ^= 0xFF  # a byte inside the weights' compressed data
    pin = hashlib.sha256(bytes(corrupted)).hexdigest()  # even when the pin matches a bad archive
    with ModelServer(bytes(corrupted)) as server:
        with pytest.raises(ChecksumError):
            ensure_checkpoints(tmp_path, server.url, pin)
    assert not (tmp_path / "checkpoints_v2_0417").exists()


def test_a_file_changed_on_the_shared_file_system_is_restored_before_use(tmp_path: Path, server):
    target = ensure_checkpoints(tmp_path, server.url, PIN)
    (target / "converter" / "checkpoint.pth").write_bytes(b"pickled code from the app host")
    again = ensure_checkpoints(tmp_path, server.url, PIN)
    assert (again / "converter" / "checkpoint.pth").read_bytes() == WEIGHTS
    assert server.requests == [None]


def test_the_archive_changed_on_the_shared_file_system_is_refused(tmp_path: Path, server):
    ensure_checkpoints(tmp_path, server.url, PIN)
    (tmp_path / "checkpoints_v2_0417.zip").write_bytes(make_archive({"checkpoints_v2/evil.pth": b"x"}))
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        ensure_checkpoints(tmp_path, server.url, PIN)


@pytest.mark.parametrize(
    "member",
    [
        "../outside.pth",
        # string-prefix trap: "<target>.tmp2" starts with "<target>.tmp" but is outside it
        "../checkpoints_v2_0417.tmp2/x.pth",
        "/etc/cron.d/x",
    ],
)
def test_a_member_that_escapes_the_target_is_refused(tmp_path: Path, member: str):
    archive = make_archive({member: b"x"})
    with ModelServer(archive) as server:
        with pytest.raises(ChecksumError, match="would escape the target directory"):
            ensure_checkpoints(tmp_path, server.url, hashlib.sha256(archive).hexdigest())
    assert not (tmp_path / "checkpoints_v2_0417.tmp2").exists()
    assert not (tmp_path / "outside.pth").exists()


def test_a_symbolic_link_member_is_refused(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("checkpoints_v2/converter/checkpoint.pth")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/mnt/shared/uploads/evil.pth")
    payload = buffer.getvalue()
    with ModelServer(payload) as server:
        with pytest.raises(ChecksumError, match="would escape"):
            ensure_checkpoints(tmp_path, server.url, hashlib.sha256(payload).hexdigest())


def test_two_processes_starting_together_download_once(tmp_path: Path):
    """The file lock: the second waits for the first and reuses its result."""
    results, errors = [], []
    with ModelServer(ARCHIVE, delay=0.3) as server:

        def start():
            try:
                results.append(ensure_checkpoints(tmp_path, server.url, PIN, log=lambda _: None))
            except Exception as error:  # reported below, not lost in the thread
                errors.append(error)

        threads = [threading.Thread(target=start) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert server.requests == [None]
    assert len(results) == 2 and results[0] == results[1]
    assert (results[0] / "converter" / "checkpoint.pth").read_bytes() == WEIGHTS
