"""The checkpoint fetch: verified, resumed, reused, and never used when partial."""

import hashlib
import io
import random
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.checkpoints import COMPLETE_MARKER, ChecksumError, ensure_checkpoints


WEIGHTS = random.Random(1).randbytes(50_000)  # incompressible, like real weights


def make_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("checkpoints_v2/converter/config.json", '{"model": {}}')
        archive.writestr("checkpoints_v2/converter/checkpoint.pth", WEIGHTS)
        archive.writestr("checkpoints_v2/base_speakers/ses/en-newest.pth", b"\x02" * 1000)
    return buffer.getvalue()


ARCHIVE = make_archive()


class ModelServer:
    """Serves one archive on 127.0.0.1 and honours Range requests, like S3."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.requests: list = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.headers.get("Range"))
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
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


def test_fetches_verifies_unpacks_and_reuses(tmp_path: Path):
    logs: list = []
    with ModelServer(ARCHIVE) as server:
        target = ensure_checkpoints(tmp_path, server.url, log=logs.append)
        assert (target / "converter" / "checkpoint.pth").read_bytes() == WEIGHTS
        assert (target / COMPLETE_MARKER).exists()
        assert (tmp_path / "checkpoints_v2_0417.zip.sha256").read_text().strip() == hashlib.sha256(ARCHIVE).hexdigest()
        assert ensure_checkpoints(tmp_path, server.url) == target
        assert server.requests == [None]  # the second start downloaded nothing


def test_resumes_an_interrupted_download_with_a_range_request(tmp_path: Path):
    (tmp_path / "checkpoints_v2_0417.zip.part").write_bytes(ARCHIVE[:1000])
    with ModelServer(ARCHIVE) as server:
        target = ensure_checkpoints(tmp_path, server.url, expected_sha256=hashlib.sha256(ARCHIVE).hexdigest())
        assert server.requests == ["bytes=1000-"]
        assert (target / "base_speakers" / "ses" / "en-newest.pth").exists()


def test_a_partial_download_is_never_used(tmp_path: Path):
    (tmp_path / "checkpoints_v2_0417.zip.part").write_bytes(ARCHIVE[:1000])
    # The server now serves a truncated archive: the result fails its check and is discarded.
    with ModelServer(ARCHIVE[:20_000]) as server:
        with pytest.raises(ChecksumError, match="not a complete zip archive"):
            ensure_checkpoints(tmp_path, server.url)
    assert not (tmp_path / "checkpoints_v2_0417").exists()
    assert not (tmp_path / "checkpoints_v2_0417.zip").exists()


def test_a_pinned_checksum_that_does_not_match_is_refused(tmp_path: Path):
    with ModelServer(ARCHIVE) as server:
        with pytest.raises(ChecksumError, match="does not match the pinned"):
            ensure_checkpoints(tmp_path, server.url, expected_sha256="0" * 64)
    assert not (tmp_path / "checkpoints_v2_0417").exists()


def test_a_corrupted_member_fails_its_crc(tmp_path: Path):
    corrupted = bytearray(ARCHIVE)
    corrupted[len(corrupted) // 3] ^= 0xFF  # a byte inside the weights' compressed data
    with ModelServer(bytes(corrupted)) as server:
        with pytest.raises(ChecksumError):
            ensure_checkpoints(tmp_path, server.url)
    assert not (tmp_path / "checkpoints_v2_0417").exists()
