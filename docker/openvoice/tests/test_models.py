"""Every model is pinned and verified; nothing loaded runs pickled code; no fetch at run time."""

import hashlib
import sys
import types
from pathlib import Path

import pytest

from app.checkpoints import ChecksumError, PinError
from app.engine import OpenVoiceEngine, audio_problem, force_weights_only
from app.models import Pins, fetch_models, load_pins, pin_problems, snapshot_dir, verify_models
from app.settings import LANGUAGES

from test_checkpoints import ARCHIVE, PIN, ModelServer

FILES = {"config.json": b'{"a": 1}', "checkpoint.pth": b"weights"}
REVISION = "0123456789abcdef0123456789abcdef01234567"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pins_for(url: str, **changes) -> Pins:
    files = {name: sha(data) for name, data in FILES.items()}
    values = {
        "checkpoint_url": url,
        "checkpoint_sha256": PIN,
        "huggingface": {"myshell-ai/MeloTTS-Japanese": (REVISION, files)},
    }
    return Pins(**{**values, **changes})


class FakeHub:
    """hf_hub_download's contract: a file of a repository at a revision, into the cache."""

    def __init__(self, content=FILES) -> None:
        self.content = content
        self.calls = []

    def __call__(self, repo_id, filename, revision, cache_dir):
        self.calls.append((repo_id, filename, revision))
        path = snapshot_dir(Path(cache_dir), repo_id, revision) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.content[filename])
        return str(path)


def test_the_repository_pins_every_model_the_service_loads():
    pins = load_pins()
    melo = {
        "EN_NEWEST": "myshell-ai/MeloTTS-English-v3",
        "JP": "myshell-ai/MeloTTS-Japanese",
        "ZH": "myshell-ai/MeloTTS-Chinese",
        "ES": "myshell-ai/MeloTTS-Spanish",
        "FR": "myshell-ai/MeloTTS-French",
        "KR": "myshell-ai/MeloTTS-Korean",
    }
    for base in LANGUAGES.values():
        assert melo[base] in pins.huggingface
        assert set(pins.huggingface[melo[base]][1]) == {"config.json", "checkpoint.pth"}
    for bert in ("bert-base-uncased", "bert-base-multilingual-uncased", "tohoku-nlp/bert-base-japanese-v3"):
        assert bert in pins.huggingface
    assert pins.checkpoint_url.endswith("/checkpoints_v2_0417.zip")


def test_unpinned_models_are_all_named_at_once_and_nothing_is_fetched(tmp_path: Path):
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
    with pytest.raises(PinError, match="4 model pin"):
        fetch_models(pins, tmp_path / "models", tmp_path / "hub", hub)
    assert hub.calls == []
    with pytest.raises(PinError):
        verify_models(pins, tmp_path / "models", tmp_path / "hub")


def test_fetches_each_file_at_its_pinned_commit_and_points_main_at_it(tmp_path: Path):
    hub = FakeHub()
    with ModelServer(ARCHIVE) as server:
        pins = pins_for(server.url)
        fetch_models(pins, tmp_path / "models", tmp_path / "hub", hub, log=lambda _: None)
        assert hub.calls == [
            ("myshell-ai/MeloTTS-Japanese", "config.json", REVISION),
            ("myshell-ai/MeloTTS-Japanese", "checkpoint.pth", REVISION),
        ]
        ref = tmp_path / "hub" / "models--myshell-ai--MeloTTS-Japanese" / "refs" / "main"
        assert ref.read_text() == REVISION
        fetch_models(pins, tmp_path / "models", tmp_path / "hub", hub, log=lambda _: None)
        assert len(hub.calls) == 2  # verified files are not fetched again


def test_a_fetched_file_that_does_not_match_its_pin_is_deleted(tmp_path: Path):
    hub = FakeHub({**FILES, "checkpoint.pth": b"something else"})
    with ModelServer(ARCHIVE) as server:
        with pytest.raises(ChecksumError, match="checkpoint.pth: sha256 .* does not match the pinned"):
            fetch_models(pins_for(server.url), tmp_path / "models", tmp_path / "hub", hub, log=lambda _: None)
    assert not (snapshot_dir(tmp_path / "hub", "myshell-ai/MeloTTS-Japanese", REVISION) / "checkpoint.pth").exists()


def test_the_service_verifies_every_file_offline_at_start(tmp_path: Path):
    with ModelServer(ARCHIVE) as server:
        pins = pins_for(server.url)
        fetch_models(pins, tmp_path / "models", tmp_path / "hub", FakeHub(), log=lambda _: None)
        before = list(server.requests)
        checkpoints = verify_models(pins, tmp_path / "models", tmp_path / "hub", log=lambda _: None)
        assert (checkpoints / "converter" / "checkpoint.pth").exists()
        assert server.requests == before  # no network call once the models are in the cache
        bert = snapshot_dir(tmp_path / "hub", "myshell-ai/MeloTTS-Japanese", REVISION) / "checkpoint.pth"
        bert.write_bytes(b"tampered on EFS")
        with pytest.raises(ChecksumError, match="does not match the pinned"):
            verify_models(pins, tmp_path / "models", tmp_path / "hub", log=lambda _: None)
        assert server.requests == before


def test_the_service_never_downloads_a_missing_checkpoint(tmp_path: Path):
    with ModelServer(ARCHIVE) as server:
        with pytest.raises(ChecksumError, match="the fetch step must run first"):
            verify_models(pins_for(server.url), tmp_path / "models", tmp_path / "hub", log=lambda _: None)
        assert server.requests == []


def test_every_torch_load_is_weights_only_even_inside_libraries():
    calls = []
    torch = types.SimpleNamespace(load=lambda *args, **kwargs: calls.append(kwargs))
    force_weights_only(torch)
    torch.load("checkpoint.pth", map_location="cpu")  # how OpenVoice and MeloTTS call it
    torch.load("se.pth", weights_only=False)  # and nobody can opt out
    force_weights_only(torch)  # idempotent
    torch.load("x")
    assert calls == [
        {"map_location": "cpu", "weights_only": True},
        {"weights_only": True},
        {"weights_only": True},
    ]


def test_loading_the_real_engine_switches_torch_to_weights_only(monkeypatch, tmp_path: Path):
    calls = []

    class Converter:
        def __init__(self, config, device):
            pass

        def load_ckpt(self, path):
            fake_torch.load(path, map_location="cpu")  # as openvoice/api.py does

    fake_torch = types.SimpleNamespace(
        load=lambda *args, **kwargs: calls.append(kwargs),
        cuda=types.SimpleNamespace(is_available=lambda: False),
    )
    api = types.ModuleType("openvoice.api")
    api.ToneColorConverter = Converter
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "openvoice", types.ModuleType("openvoice"))
    monkeypatch.setitem(sys.modules, "openvoice.api", api)
    OpenVoiceEngine().load(tmp_path)
    assert calls == [{"map_location": "cpu", "weights_only": True}]


@pytest.mark.parametrize(
    ("duration", "peak", "problem"),
    [(0.4, 0.5, "at least 1 s"), (5.0, 0.0, "silent"), (5.0, 0.0005, "silent"), (5.0, 0.3, None)],
)
def test_a_reference_must_hold_some_sound(duration, peak, problem):
    found = audio_problem(duration, peak)
    assert (found is None) if problem is None else (problem in found)
