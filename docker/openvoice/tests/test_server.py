"""The HTTP API with a fake engine: routes, validation, and the files it leaves on EFS."""

import time
import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.server import create_app
from app.settings import Settings


class FakeEngine:
    """Does what the real engine does to the file system, without a GPU or models."""

    def __init__(self, gpu: bool = True) -> None:
        self.gpu = gpu
        self.is_loaded = False
        self.loaded_from = None

    def gpu_visible(self) -> bool:
        return self.gpu

    def loaded(self) -> bool:
        return self.is_loaded

    def load(self, checkpoints: Path) -> None:
        self.loaded_from = checkpoints
        self.is_loaded = True

    def extract_voice(self, reference: Path, embedding_out: Path) -> None:
        embedding_out.write_bytes(b"embedding of " + reference.read_bytes()[:8])

    def synthesize(self, text, language, embedding, wav_out, speed) -> None:
        with wave.open(str(wav_out), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(22050)
            out.writeframes(b"\x00\x00" * int(22050 * 0.1))


def wait_loaded(engine: FakeEngine) -> None:
    for _ in range(100):
        if engine.is_loaded:
            return
        time.sleep(0.01)
    raise AssertionError("the engine never loaded")


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / "shared"


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(shared: Path, engine: FakeEngine):
    settings = Settings(shared_dir=shared, max_reference_bytes=1024, max_text_chars=50)
    with TestClient(create_app(settings, engine, prepare=lambda: shared / "models" / "checkpoints_v2")) as test_client:
        wait_loaded(engine)
        yield test_client


def test_health_reports_gpu_and_models(client, engine):
    assert client.get("/health").json() == {"status": "ok", "gpu": True, "modelsLoaded": True}
    engine.gpu = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["gpu"] is False


def test_health_says_why_loading_failed(shared):
    def broken():
        raise RuntimeError("checkpoint download failed")

    engine = FakeEngine()
    with TestClient(create_app(Settings(shared_dir=shared), engine, prepare=broken)) as test_client:
        for _ in range(100):
            body = test_client.get("/health").json()
            if "error" in body:
                break
            time.sleep(0.01)
        assert body == {
            "status": "unavailable",
            "gpu": True,
            "modelsLoaded": False,
            "error": "RuntimeError: checkpoint download failed",
        }


def test_create_voice_stores_reference_and_embedding_under_voices(client, shared):
    response = client.post("/voices", data={"voiceId": "alice-1"}, files={"reference": ("a.wav", b"RIFFdata", "audio/wav")})
    assert response.status_code == 201
    assert (shared / "voices" / "alice-1" / "reference.wav").read_bytes() == b"RIFFdata"
    assert (shared / "voices" / "alice-1" / "se.pth").read_bytes() == b"embedding of RIFFdata"
    assert not [p for p in (shared / "voices" / "alice-1").iterdir() if p.name.endswith(".tmp")]
    assert client.get("/voices/alice-1").status_code == 200


@pytest.mark.parametrize(
    ("voice_id", "filename", "content", "status", "detail"),
    [
        ("Alice!", "a.wav", b"x", 400, "voiceId must be"),
        ("alice", "a.exe", b"x", 415, "reference audio must be one of"),
        ("alice", "a.wav", b"x" * 1025, 413, "larger than 1024 bytes"),
        ("alice", "a.wav", b"", 400, "reference audio is empty"),
    ],
)
def test_create_voice_rejects_bad_input(client, shared, voice_id, filename, content, status, detail):
    response = client.post("/voices", data={"voiceId": voice_id}, files={"reference": (filename, content, "audio/wav")})
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert not (shared / "voices" / "alice").exists()


def test_synthesize_returns_a_wav_in_the_profile_voice(client):
    client.post("/voices", data={"voiceId": "bob"}, files={"reference": ("b.wav", b"RIFF", "audio/wav")})
    response = client.post("/synthesize", json={"text": "こんにちは", "language": "JP", "voiceId": "bob"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"text": "  ", "language": "EN", "voiceId": "bob"}, 400, "text is empty"),
        ({"text": "x" * 51, "language": "EN", "voiceId": "bob"}, 413, "longer than 50 characters"),
        ({"text": "hi", "language": "DE", "voiceId": "bob"}, 400, "language must be one of EN, ES, FR, JP, KR, ZH"),
        ({"text": "hi", "language": "EN", "voiceId": "nobody"}, 404, "voice profile nobody does not exist"),
        ({"text": "hi", "language": "EN", "voiceId": "bob", "speed": 3}, 400, "speed must be between"),
    ],
)
def test_synthesize_rejects_bad_input(client, body, status, detail):
    client.post("/voices", data={"voiceId": "bob"}, files={"reference": ("b.wav", b"RIFF", "audio/wav")})
    response = client.post("/synthesize", json=body)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_requests_wait_for_the_models(shared):
    engine = FakeEngine()
    gate = []

    def slow():
        while not gate:
            time.sleep(0.01)
        return shared

    with TestClient(create_app(Settings(shared_dir=shared), engine, prepare=slow)) as test_client:
        response = test_client.post("/voices", data={"voiceId": "c"}, files={"reference": ("c.wav", b"R", "audio/wav")})
        assert response.status_code == 503
        gate.append(True)


def test_settings_from_env_name_the_variable():
    with pytest.raises(ValueError, match="MAX_TEXT_CHARS must be a whole number"):
        Settings.from_env({"MAX_TEXT_CHARS": "many"})
    with pytest.raises(ValueError, match="OPENVOICE_CHECKPOINT_SHA256 must be 64 hex digits"):
        Settings.from_env({"OPENVOICE_CHECKPOINT_SHA256": "abc"})
    assert Settings.from_env({"SHARED_DIR": "/x"}).voices_dir == Path("/x/voices")
