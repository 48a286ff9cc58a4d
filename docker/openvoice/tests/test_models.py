"""Model trust (pins, else trust on first use recorded in a lock; strict refuses the unpinned), the
fetch onto EFS, the host's own copy, and what each start reads from the shared file system."""

import builtins
import dataclasses
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import pytest

import offline_fakes
from app import models
from app.checkpoints import ChecksumError, PinError
from app.engine import OpenVoiceEngine, audio_problem, force_weights_only
from app.local_copy import sync_local_copy, verify_local_copy
from app.lock import LOCK_NAME, read_lock, snapshot_dir
from app.models import Pins, fetch_models, load_pins, lock_as_pins, pin_problems
from app.settings import LANGUAGES
from test_checkpoints import ARCHIVE, PIN, ModelServer

REPO = "myshell-ai/MeloTTS-Japanese"
FILES = {"config.json": b'{"a": 1}', "checkpoint.pth": b"weights" * 1000}
REVISION = "0123456789abcdef0123456789abcdef01234567"
HEAD = "fedcba9876543210fedcba9876543210fedcba98"
QUIET = dict(log=lambda _: None)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pinned(url: str, **changes) -> Pins:
    files = {name: sha(data) for name, data in FILES.items()}
    return dataclasses.replace(Pins(url, PIN, {REPO: (REVISION, files)}), **changes)


def unpinned(url: str) -> Pins:
    return Pins(checkpoint_url=url, checkpoint_sha256=None, huggingface={REPO: (None, {name: None for name in FILES})})


class FakeHub:
    """The Hub: a default branch that names a commit, and files at commits."""

    def __init__(self, content=FILES, head=HEAD) -> None:
        self.content, self.head = dict(content), head
        self.resolved, self.downloads = [], []

    def resolve(self, repo):
        self.resolved.append(repo)
        return self.head

    def download(self, repo, filename, revision, cache_dir):
        self.downloads.append((repo, filename, revision))
        path = snapshot_dir(Path(cache_dir), repo, revision) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.content[filename])
        return path


@pytest.fixture
def dirs(tmp_path: Path):
    return tmp_path / "shared" / "models", tmp_path / "host-disk"


# --- the set of models ----------------------------------------------------------------------


def test_the_repository_names_every_model_the_service_loads_and_no_other():
    pins = load_pins()
    for base in LANGUAGES.values():
        repo = offline_fakes.MELO_REPOS[base]
        assert set(pins.huggingface[repo][1]) == {"config.json", "checkpoint.pth"}
    berts = set(offline_fakes.BERT_OF.values())
    assert set(pins.huggingface) == set(offline_fakes.MELO_REPOS.values()) | berts
    # MeloTTS's ZH model runs as ZH_MIX_EN (melo/api.py:63) with the multilingual BERT.
    assert "hfl/chinese-roberta-wwm-ext-large" not in pins.huggingface
    assert pins.checkpoint_url.endswith("/checkpoints_v2_0417.zip")


# --- trust ----------------------------------------------------------------------------------


def test_first_use_resolves_the_default_branch_once_records_every_sha256_and_says_so_loudly(dirs, server):
    shared, local = dirs
    hub, logs = FakeHub(), []
    lock = fetch_models(unpinned(server.url), shared, local, hub, log=logs.append)
    assert lock == read_lock(shared / LOCK_NAME)
    assert lock["huggingface"][REPO] == {
        "revision": HEAD,
        "files": {name: {"sha256": sha(data), "size": len(data)} for name, data in FILES.items()},
    }
    assert lock["checkpoint"] == {"url": server.url, "sha256": PIN, "size": len(ARCHIVE)}
    loud = [line for line in logs if "TRUST ON FIRST USE" in line]
    assert len(loud) == 4 and all(line.startswith("!!!!!!!!") for line in loud)
    # From then on the lock decides: the branch is not resolved again, nothing is downloaded.
    hub.head = "1" * 40
    assert fetch_models(unpinned(server.url), shared, local, hub, **QUIET) == lock
    assert hub.resolved == [REPO] and len(hub.downloads) == 2 and server.requests == [None]


def test_after_first_use_a_file_that_differs_from_the_lock_is_refused(dirs, server):
    shared, local = dirs
    fetch_models(unpinned(server.url), shared, local, FakeHub(), **QUIET)
    (snapshot_dir(shared / "hf" / "hub", REPO, HEAD) / "checkpoint.pth").unlink()
    swapped = FakeHub({**FILES, "checkpoint.pth": b"another model under the same name"})
    with pytest.raises(ChecksumError, match="checkpoint.pth: sha256 .* does not match the expected"):
        fetch_models(unpinned(server.url), shared, local, swapped, **QUIET)


def test_pins_in_the_repository_are_used_as_given_and_win_over_the_lock(dirs, server):
    shared, local = dirs
    fetch_models(unpinned(server.url), shared, local, FakeHub(), **QUIET)
    hub = FakeHub()
    lock = fetch_models(pinned(server.url), shared, local, hub, **QUIET)
    assert hub.resolved == [] and {d[2] for d in hub.downloads} == {REVISION}
    assert lock["huggingface"][REPO]["revision"] == REVISION
    bad = FakeHub({**FILES, "config.json": b"{}"})
    other = pinned(server.url, huggingface={REPO: ("2" * 40, {"config.json": sha(FILES["config.json"])})})
    with pytest.raises(ChecksumError, match="does not match the expected"):
        fetch_models(other, shared, local, bad, **QUIET)
    assert not (snapshot_dir(local / "hf" / "hub", REPO, "2" * 40) / "config.json").exists()


def test_strict_refuses_anything_unpinned_naming_all_of_it_before_any_download(dirs):
    shared, local = dirs
    hub = FakeHub()
    pins = Pins(
        checkpoint_url="http://127.0.0.1:9/x.zip",
        checkpoint_sha256=None,
        huggingface={"a/b": (None, {"config.json": None}), "c/d": ("main", {"x.bin": sha(b"x")})},
    )
    assert pin_problems(pins) == [
        "checkpoint.sha256 (http://127.0.0.1:9/x.zip)",
        "huggingface[a/b].revision (a 40-hex commit)",
        "huggingface[a/b].files[config.json]",
        "huggingface[c/d].revision (a 40-hex commit)",
    ]
    with pytest.raises(PinError, match="MODEL_TRUST=strict and 4 model pin"):
        fetch_models(pins, shared, local, hub, trust="strict", **QUIET)
    assert hub.downloads == [] and hub.resolved == []


def test_strict_fetches_what_is_fully_pinned(dirs, server):
    shared, local = dirs
    lock = fetch_models(pinned(server.url), shared, local, FakeHub(), trust="strict", **QUIET)
    assert lock["huggingface"][REPO]["revision"] == REVISION


def test_the_recorded_lock_prints_as_pins_that_strict_mode_accepts(dirs, monkeypatch, capsys, server):
    shared, local = dirs
    monkeypatch.setenv("SHARED_DIR", str(shared.parent))
    assert models.main(["app.models", "lock"]) == 1
    assert "no lock recorded yet" in capsys.readouterr().err
    fetch_models(unpinned(server.url), shared, local, FakeHub(), **QUIET)
    assert models.main(["app.models", "lock"]) == 0
    printed = capsys.readouterr().out
    path = local.parent / "committed_pins.json"
    path.write_text(printed)
    assert pin_problems(load_pins(path)) == []
    assert json.loads(printed) == lock_as_pins(read_lock(shared / LOCK_NAME))


def test_an_unknown_trust_mode_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("MODEL_TRUST", "trusting")
    assert models.main(["app.models", "fetch"]) == 2
    assert "MODEL_TRUST must be one of first-use, strict" in capsys.readouterr().err


# --- the host's copy and what each start reads from EFS ------------------------------------


class SharedReads:
    """Counts the bytes this process reads from files under one directory (the EFS mount)."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.root, self.bytes = str(root), 0
        real_open = io.open
        counter = self

        class Counted:
            def __init__(self, handle) -> None:
                self._handle = handle

            def read(self, *args):
                data = self._handle.read(*args)
                counter.bytes += len(data)
                return data

            def readinto(self, buffer):
                count = self._handle.readinto(buffer)
                counter.bytes += count or 0
                return count

            def __iter__(self):
                for line in self._handle:
                    counter.bytes += len(line)
                    yield line

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._handle.close()

            def __getattr__(self, name):
                return getattr(self._handle, name)

        def counting_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            is_path = isinstance(file, (str, os.PathLike))
            if is_path and "r" in mode and os.path.realpath(os.fspath(file)).startswith(counter.root):
                return Counted(handle)
            return handle

        monkeypatch.setattr(builtins, "open", counting_open)
        monkeypatch.setattr(io, "open", counting_open)

    def during(self, action):
        before = self.bytes
        action()
        return self.bytes - before


def model_bytes() -> int:
    return len(ARCHIVE) + sum(len(data) for data in FILES.values())


def start(pins, shared, local, hub):
    """One boot of a GPU host: the models step (fetch, sync), then the service's check."""
    lock = fetch_models(pins, shared, local, hub, **QUIET)
    sync_local_copy(lock, shared, local, **QUIET)
    verify_local_copy(local, **QUIET)


def test_each_start_reads_from_efs_only_what_the_host_does_not_hold(tmp_path: Path, monkeypatch, server):
    shared = tmp_path / "shared" / "models"
    primary, burst = tmp_path / "primary-disk", tmp_path / "burst-disk"
    pins = unpinned(server.url)
    reads = SharedReads(tmp_path / "shared", monkeypatch)
    first = reads.during(lambda: start(pins, shared, primary, FakeHub()))
    lock_size = (shared / LOCK_NAME).stat().st_size
    warm = reads.during(lambda: start(pins, shared, primary, FakeHub()))
    launch = reads.during(lambda: start(pins, shared, burst, FakeHub()))
    service_start = reads.during(lambda: verify_local_copy(primary, **QUIET))
    print(f"bytes read from EFS: first start {first}, warm start {warm}, burst launch {launch}, lock {lock_size}")
    assert first == 0  # the first host downloads to its own disk and only writes EFS
    assert warm == lock_size  # the lock, nothing else
    assert model_bytes() <= launch <= model_bytes() + lock_size  # one copy
    assert service_start == 0
    assert server.requests == [None]


def test_a_lock_change_copies_only_what_changed(tmp_path: Path, monkeypatch, server):
    shared, local = tmp_path / "shared" / "models", tmp_path / "disk"
    start(pinned(server.url), shared, local, FakeHub())
    new_config = b'{"a": 2}'
    files = {"config.json": sha(new_config), "checkpoint.pth": sha(FILES["checkpoint.pth"])}
    changed = pinned(server.url, huggingface={REPO: (REVISION, files)})
    (snapshot_dir(shared / "hf" / "hub", REPO, REVISION) / "config.json").unlink()
    fetch_models(changed, shared, tmp_path / "other-host", FakeHub({**FILES, "config.json": new_config}), **QUIET)
    reads = SharedReads(tmp_path / "shared", monkeypatch)
    lock = read_lock(shared / LOCK_NAME)
    copied = reads.during(lambda: sync_local_copy(lock, shared, local, **QUIET))
    assert copied == len(new_config)  # the lock comes in as an argument; the unchanged files stay
    assert (snapshot_dir(local / "hf" / "hub", REPO, REVISION) / "config.json").read_bytes() == new_config


def test_a_file_changed_on_efs_is_caught_by_the_copy_and_removed_for_the_next_fetch(tmp_path: Path, server):
    shared, primary, burst = tmp_path / "shared" / "models", tmp_path / "a", tmp_path / "b"
    start(pinned(server.url), shared, primary, FakeHub())
    tampered = snapshot_dir(shared / "hf" / "hub", REPO, REVISION) / "checkpoint.pth"
    tampered.write_bytes(b"x" * len(FILES["checkpoint.pth"]))  # same size: only the hash tells
    with pytest.raises(ChecksumError, match="does not match the lock; removed"):
        start(pinned(server.url), shared, burst, FakeHub())
    assert not tampered.exists()
    start(pinned(server.url), shared, burst, FakeHub())  # the next boot restores it
    assert (snapshot_dir(burst / "hf" / "hub", REPO, REVISION) / "checkpoint.pth").read_bytes() == FILES["checkpoint.pth"]


def test_a_checkpoint_archive_changed_on_efs_is_caught_by_the_copy_and_removed_for_the_next_fetch(tmp_path: Path, server):
    shared, primary, burst = tmp_path / "shared" / "models", tmp_path / "a", tmp_path / "b"
    start(pinned(server.url), shared, primary, FakeHub())
    archive = shared / "checkpoints_v2_0417.zip"
    archive.write_bytes(bytes(len(ARCHIVE)))
    with pytest.raises(ChecksumError, match="removed, the next fetch restores it"):
        start(pinned(server.url), shared, burst, FakeHub())
    assert not archive.exists()
    start(pinned(server.url), shared, burst, FakeHub())
    assert archive.read_bytes() == ARCHIVE and server.requests == [None, None]


def test_the_service_refuses_an_incomplete_copy_and_names_what_is_missing(tmp_path: Path, server):
    shared, local = tmp_path / "shared" / "models", tmp_path / "disk"
    with pytest.raises(ChecksumError, match="the models step must run first"):
        verify_local_copy(local, **QUIET)
    start(pinned(server.url), shared, local, FakeHub())
    checkpoints = verify_local_copy(local, **QUIET)
    assert (checkpoints / "converter" / "checkpoint.pth").exists()
    (snapshot_dir(local / "hf" / "hub", REPO, REVISION) / "config.json").write_bytes(b"{}")
    with pytest.raises(ChecksumError, match="config.json is missing or has the wrong size"):
        verify_local_copy(local, **QUIET)


def test_the_host_copy_is_a_hugging_face_cache_whose_main_names_the_locked_commit(tmp_path: Path, server):
    shared, local = tmp_path / "shared" / "models", tmp_path / "disk"
    start(unpinned(server.url), shared, local, FakeHub())
    ref = local / "hf" / "hub" / "models--myshell-ai--MeloTTS-Japanese" / "refs" / "main"
    assert ref.read_text() == HEAD
    offline_path = offline_fakes.hf_hub_download(REPO, "config.json", cache_dir=str(local / "hf" / "hub"))
    assert Path(offline_path).read_bytes() == FILES["config.json"]


# --- pickled code ---------------------------------------------------------------------------


def test_every_torch_load_is_weights_only_even_inside_libraries():
    import types

    calls = []
    torch = types.SimpleNamespace(load=lambda *args, **kwargs: calls.append(kwargs))
    force_weights_only(torch)
    torch.load("checkpoint.pth", map_location="cpu")  # how OpenVoice and MeloTTS call it
    torch.load("se.pth", weights_only=False)  # and nobody can opt out
    force_weights_only(torch)  # idempotent
    torch.load("x")
    assert calls == [{"map_location": "cpu", "weights_only": True}, {"weights_only": True}, {"weights_only": True}]


def test_loading_the_real_engine_switches_torch_to_weights_only(monkeypatch, tmp_path: Path):
    offline_fakes.install(monkeypatch, set())
    calls = []
    monkeypatch.setattr(sys.modules["torch"], "load", lambda *args, **kwargs: calls.append(kwargs))
    (tmp_path / "converter").mkdir()
    (tmp_path / "converter" / "config.json").write_text("{}")
    (tmp_path / "vad").mkdir()
    (tmp_path / "vad" / "hubconf.py").write_text("")
    OpenVoiceEngine(tmp_path / "vad").load(tmp_path)
    assert calls == [{"map_location": "cpu", "weights_only": True}]


@pytest.mark.parametrize(
    ("duration", "peak", "problem"),
    [(0.4, 0.5, "at least 1 s"), (5.0, 0.0, "silent"), (5.0, 0.0005, "silent"), (5.0, 0.3, None)],
)
def test_a_reference_must_hold_some_sound(duration, peak, problem):
    found = audio_problem(duration, peak)
    assert (found is None) if problem is None else (problem in found)
