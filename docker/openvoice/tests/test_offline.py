"""Nothing is downloaded at run time.

The service is imported and run (model load, a clone, a synthesis in every language) with sockets,
urllib, torch.hub, the Hugging Face Hub and `pip` subprocesses closed; fakes stand in for the heavy
libraries and reach for the network exactly where the pinned upstream code does
(tests/offline_fakes.py). Only the one-shot models step may use the network, as on the host.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import offline_fakes
from app import models
from app.engine import OpenVoiceEngine
from app.lock import snapshot_dir
from app.settings import LANGUAGES
from test_checkpoints import ModelServer, make_archive
from test_server import AUTH, TOKEN, wait_health

SERVICE = Path(__file__).resolve().parents[1]
# make_archive holds en-newest already.
BASE_SPEAKERS = ("en-newest", "jp", "zh", "es", "fr", "kr")


def image_packages() -> set[str]:
    """The distributions requirements.txt installs into the image, normalised (PEP 503)."""
    names = set()
    for line in (SERVICE / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.sub(r"[-_.]+", "-", re.split(r"[\[=<>~ ]", line, 1)[0]).lower())
    return names


class NetworkForbidden(OSError):
    """The service reached for the network at run time (an OSError, as a refused connection is)."""


@pytest.fixture
def fakes(monkeypatch):
    offline_fakes.install(monkeypatch, image_packages())


def close_network(monkeypatch) -> list[str]:
    attempts: list[str] = []

    def refuse(what: str):
        attempts.append(what)
        raise NetworkForbidden(f"network access at run time: {what}")

    real_popen = subprocess.Popen

    class GuardedPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args, *rest, **options):
            words = [str(a) for a in args] if isinstance(args, (list, tuple)) else str(args).split()
            if "pip" in words or any(w.endswith("/pip") for w in words):
                refuse("subprocess " + " ".join(words))
            super().__init__(args, *rest, **options)

    hub_load = sys.modules["torch"].hub.load

    def guarded_hub_load(repo_or_dir, model, source="github", **options):
        if source != "local":
            refuse(f"torch.hub.load {repo_or_dir} from {source}")
        return hub_load(repo_or_dir, model, source=source, **options)

    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(f"connect {address}"))
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(f"connect {address}"))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(f"resolve {host}"))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: refuse(f"urlopen {getattr(url, 'full_url', url)}"))
    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)
    monkeypatch.setattr(sys.modules["torch"].hub, "load", guarded_hub_load)
    return attempts


def checkpoint_archive() -> bytes:
    members = {"checkpoints_v2/base_speakers/ses/" + name + ".pth": b"se of " + name.encode() for name in BASE_SPEAKERS[1:]}
    return make_archive(members)


class FakeHubClient:
    """The Hugging Face Hub as the one-shot models step sees it: every file of every repository."""

    def __init__(self) -> None:
        self.resolved: list[str] = []

    def resolve(self, repo: str) -> str:
        self.resolved.append(repo)
        return format(abs(hash(repo)) % (16**40), "040x")

    def download(self, repo: str, filename: str, revision: str, cache_dir: Path) -> Path:
        path = snapshot_dir(cache_dir, repo, revision) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"repo": repo}) if filename.endswith(".json") else f"{repo}/{filename}"
        path.write_text(body)
        return path


def set_env(monkeypatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def vad_dir(tmp_path: Path) -> Path:
    """silero-vad as the image vendors it: a torch.hub repository with its hubconf.py."""
    vad = tmp_path / "silero-vad"
    vad.mkdir()
    (vad / "hubconf.py").write_text("dependencies = ['torch', 'torchaudio']\n")
    return vad


@pytest.fixture
def host(tmp_path: Path, monkeypatch, vad_dir: Path) -> dict:
    """The GPU host after the models step: EFS, the host's own copy, the service's environment."""
    shared, local = tmp_path / "shared", tmp_path / "local-models"
    pins_file = tmp_path / "model_pins.json"
    with ModelServer(checkpoint_archive()) as server:
        raw = json.loads(models.PINS_FILE.read_text())
        raw["checkpoint"]["url"] = server.url
        pins_file.write_text(json.dumps(raw))
        monkeypatch.setattr(models, "PINS_FILE", pins_file)
        monkeypatch.setattr(models, "HuggingFaceHub", FakeHubClient)
        set_env(monkeypatch, SHARED_DIR=str(shared), LOCAL_MODELS_DIR=str(local), MODEL_TRUST="first-use")
        assert models.main(["app.models", "fetch"]) == 0
    set_env(
        monkeypatch,
        OPENVOICE_API_TOKEN=TOKEN,
        HF_HOME=str(local / "hf"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        SILERO_VAD_DIR=str(vad_dir),
        HOME=str(tmp_path / "home"),
    )
    return {"shared": shared, "local": local}


@pytest.fixture
def store(tmp_path: Path, monkeypatch, vad_dir: Path) -> Path:
    """Every pinned model file in a Hugging Face cache, and the OpenVoice checkpoints; returns those."""
    cache, hub = tmp_path / "hf" / "hub", FakeHubClient()
    for repo, (revision, files) in models.load_pins().huggingface.items():
        commit = revision or hub.resolve(repo)
        for name in files:
            hub.download(repo, name, commit, cache)
        (cache / f"models--{repo.replace('/', '--')}" / "refs").mkdir(parents=True, exist_ok=True)
        (cache / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text(commit)
    checkpoints = tmp_path / "checkpoints_v2"
    (checkpoints / "converter").mkdir(parents=True)
    (checkpoints / "converter" / "config.json").write_text("{}")
    (checkpoints / "converter" / "checkpoint.pth").write_bytes(b"weights")
    (checkpoints / "base_speakers" / "ses").mkdir(parents=True)
    for name in BASE_SPEAKERS:
        (checkpoints / "base_speakers" / "ses" / f"{name}.pth").write_bytes(b"se")
    set_env(
        monkeypatch, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", SILERO_VAD_DIR=str(vad_dir), HOME=str(tmp_path / "home")
    )
    return checkpoints


def loaded_offline(store: Path, monkeypatch) -> tuple[OpenVoiceEngine, list[str]]:
    """The engine loaded from `store` with the network closed, and the network attempts so far."""
    attempts = close_network(monkeypatch)
    engine = OpenVoiceEngine()
    engine.load(store)
    return engine, attempts


def test_the_engine_loads_without_fetching_wavmark(fakes, store, monkeypatch):
    engine, attempts = loaded_offline(store, monkeypatch)
    assert engine.loaded() and attempts == []


def test_a_clone_finds_voice_activity_with_the_vendored_silero_vad(fakes, store, monkeypatch, tmp_path):
    monkeypatch.setattr(offline_fakes, "wavmark_load_model", lambda: None)  # the load is tested above
    engine, attempts = loaded_offline(store, monkeypatch)
    reference = tmp_path / "reference.wav"
    reference.write_bytes(b"RIFF" + b"\x01" * 64)
    engine.extract_voice(reference, tmp_path / "se.pth")
    assert (tmp_path / "se.pth").exists() and attempts == []


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_synthesizes_from_the_image_and_the_cache_alone(fakes, store, monkeypatch, tmp_path, language):
    monkeypatch.setattr(offline_fakes, "wavmark_load_model", lambda: None)
    engine, attempts = loaded_offline(store, monkeypatch)
    (tmp_path / "se.pth").write_bytes(b"profile")
    engine.synthesize("hello", language, tmp_path / "se.pth", tmp_path / "out.wav", 1.0)
    assert (tmp_path / "out.wav").read_bytes().startswith(b"RIFF") and attempts == []


def import_service():
    sys.modules.pop("app.main", None)
    return importlib.import_module("app.main")


def wait_ready(client: TestClient) -> dict:
    return wait_health(client, lambda body: body.get("modelsLoaded") or "error" in body)


def test_the_service_loads_clones_and_speaks_every_language_with_the_network_closed(fakes, host, monkeypatch):
    attempts = close_network(monkeypatch)
    service = import_service()
    with TestClient(service.app, headers=AUTH) as client:
        body = wait_ready(client)
        assert body.get("error") is None and body["modelsLoaded"] is True, body
        response = client.post(
            "/voices", data={"voiceId": "alice"}, files={"reference": ("a.wav", b"RIFF" + b"\x01" * 64, "audio/wav")}
        )
        assert response.status_code == 201, response.text
        for language in LANGUAGES:
            response = client.post("/synthesize", json={"text": "hello", "language": language, "voiceId": "alice"})
            assert (language, response.status_code) == (language, 200), response.text
            assert response.content.startswith(b"RIFF")
    assert attempts == []


def test_adding_a_download_to_the_load_path_fails_the_offline_test(fakes, host, monkeypatch):
    """The guard bites: the same run with one more Hugging Face file on the load path fails."""
    from app import engine as engine_module

    original = engine_module.OpenVoiceEngine.load

    def load_with_a_download(self, checkpoints):
        sys.modules["huggingface_hub"].hf_hub_download("M4869/WavMark", "model.pkl")
        original(self, checkpoints)

    monkeypatch.setattr(engine_module.OpenVoiceEngine, "load", load_with_a_download)
    close_network(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # as if the image had lost its offline switch
    service = import_service()
    with TestClient(service.app, headers=AUTH) as client:
        body = wait_ready(client)
    assert body["modelsLoaded"] is False
    assert "network access at run time: urlopen https://huggingface.co/M4869/WavMark" in body["error"]
