"""The HTTP API with a fake engine: routes, validation, authentication, GPU serialisation, and the
files it leaves on EFS."""

import asyncio
import json
import os
import stat
import sys
import threading
import time
import wave
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.engine import UnusableAudio
from app.server import create_app
from app.settings import Settings, SettingsError

TOKEN = "t0ken-for-tests-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeEngine:
    """Does what the real engine does to the file system, without a GPU or models."""

    def __init__(self, loaded: bool = False, block: bool = False, work_seconds: float = 0.0) -> None:
        """`block`: every GPU call waits for `release` (at most 3 s); each then works `work_seconds`."""
        self.gpu = True
        self.is_loaded = loaded
        self.loaded_from = None
        self.work_seconds = work_seconds
        self.running = 0
        self.most_at_once = 0
        self.fail_extraction: Exception | None = None
        self.release = threading.Event()
        self.block = block
        self._count = threading.Lock()

    def gpu_visible(self) -> bool:
        return self.gpu

    def loaded(self) -> bool:
        return self.is_loaded

    def load(self, checkpoints: Path) -> None:
        self.loaded_from = checkpoints
        self.is_loaded = True

    def _work(self) -> None:
        with self._count:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if self.block:
            self.release.wait(3)
        time.sleep(self.work_seconds)
        with self._count:
            self.running -= 1

    def extract_voice(self, reference: Path, embedding_out: Path) -> None:
        self._work()
        if self.fail_extraction:
            raise self.fail_extraction
        embedding_out.write_bytes(b"embedding of " + reference.read_bytes()[:8])

    def synthesize(self, text, language, embedding, wav_out, speed) -> None:
        self._work()
        with wave.open(str(wav_out), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(22050)
            out.writeframes(b"\x00\x00" * int(22050 * 0.1))


def wait_health(client, done) -> dict:
    """The /health body once `done(body)` holds, or the last one after two seconds."""
    for _ in range(200):
        body = client.get("/health").json()
        if done(body):
            break
        time.sleep(0.01)
    return body


def with_profile(shared: Path, voice_id: str) -> None:
    profile = shared / "voices" / voice_id
    profile.mkdir(parents=True)
    (profile / "se.pth").write_bytes(b"x")


def wait_loaded(engine: FakeEngine) -> None:
    for _ in range(100):
        if engine.is_loaded:
            return
        time.sleep(0.01)
    raise AssertionError("the engine never loaded")


def make_settings(shared: Path, **overrides) -> Settings:
    return Settings(shared_dir=shared, api_token=TOKEN, **{"max_reference_bytes": 1024, "max_text_chars": 50, **overrides})


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / "shared"


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(shared: Path, engine: FakeEngine):
    app = create_app(make_settings(shared), engine, prepare=lambda: shared / "models" / "checkpoints_v2")
    with TestClient(app, headers=AUTH) as test_client:
        wait_loaded(engine)
        yield test_client


def clone(client, voice_id="alice-1", content=b"RIFFdata", **fields):
    return client.post(
        "/voices", data={"voiceId": voice_id, **fields}, files={"reference": ("a.wav", content, "audio/wav")}
    )


def speaker(voice_id: str):
    """A request for run_concurrently: a short synthesis in the voice of `voice_id`."""

    async def speak(http):
        return await http.post("/synthesize", json={"text": "hi", "language": "EN", "voiceId": voice_id})

    return speak


def test_health_reports_gpu_and_models(client, engine):
    assert client.get("/health").json() == {
        "status": "ok",
        "gpu": True,
        "modelsLoaded": True,
        "storage": {"writable": True},
        "gpuStuck": False,
    }
    engine.gpu = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["gpu"] is False


def test_health_says_why_loading_failed(shared):
    def broken():
        raise RuntimeError("checkpoint download failed")

    engine = FakeEngine()
    with TestClient(create_app(make_settings(shared), engine, prepare=broken)) as test_client:
        assert wait_health(test_client, lambda body: "error" in body) == {
            "status": "unavailable",
            "gpu": True,
            "modelsLoaded": False,
            "storage": {"writable": True},
            "gpuStuck": False,
            "error": "RuntimeError: checkpoint download failed",
        }


def test_health_reports_storage_it_cannot_write(client, shared):
    # Where profiles are built is not a folder that takes files (read-only, full, gone): a clone
    # would fail with 500 while the GPU and the models are fine.
    profiles = shared / "voices" / ".profiles"
    profiles.parent.mkdir(parents=True, exist_ok=True)
    if profiles.exists():
        profiles.rmdir()
    profiles.write_text("not a folder")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storage"]["writable"] is False
    assert ".profiles" in body["storage"]["error"]
    profiles.unlink()
    assert client.get("/health").status_code == 200


def test_health_reports_an_inference_stuck_on_the_gpu(shared):
    engine = FakeEngine(loaded=True, block=True)
    app = create_app(make_settings(shared), engine, stuck_after_seconds=0.2)
    with_profile(shared, "ivy")
    seen = []

    async def health_request(http):
        await asyncio.sleep(0.1)  # running, within the limit
        seen.append((await http.get("/health")).json())
        await asyncio.sleep(0.3)  # running past the limit
        seen.append((await http.get("/health")).json())
        engine.release.set()
        return None

    spoken, _ = run_concurrently(app, [speaker("ivy"), health_request])
    assert spoken.status_code == 200
    assert [body["gpuStuck"] for body in seen] == [False, True]
    assert seen[1]["status"] == "unavailable" and seen[1]["longestInferenceSeconds"] >= 0.3


# --- authentication (port 8001 is reachable from the app host, which runs third-party images)


def test_every_route_but_health_requires_the_bearer_token(shared, engine):
    app = create_app(make_settings(shared), engine, prepare=lambda: shared)
    with TestClient(app) as anonymous:
        wait_loaded(engine)
        assert anonymous.get("/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
            assert anonymous.get("/voices/alice", headers=headers).status_code == 401
            response = anonymous.post(
                "/synthesize", json={"text": "hi", "language": "EN", "voiceId": "bob"}, headers=headers
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            response = anonymous.post(
                "/voices", data={"voiceId": "x"}, files={"reference": ("a.wav", b"R", "audio/wav")}, headers=headers
            )
            assert response.status_code == 401
        assert not (shared / "voices" / "x").exists()
        assert anonymous.get("/voices/alice", headers=AUTH).status_code == 404


def test_refuses_to_start_without_a_strong_token(shared):
    with pytest.raises(SettingsError, match="at least 32 characters"):
        create_app(Settings(shared_dir=shared, api_token="short"), FakeEngine())
    with pytest.raises(SettingsError, match="OPENVOICE_API_TOKEN must be set"):
        Settings.from_env({"SHARED_DIR": "/x"})


# --- voice profiles


def test_create_voice_stores_reference_and_embedding_under_voices(client, shared):
    response = clone(client)
    assert response.status_code == 201
    profile = shared / "voices" / "alice-1"
    assert (profile / "reference.wav").read_bytes() == b"RIFFdata"
    assert (profile / "se.pth").read_bytes() == b"embedding of RIFFdata"
    assert not [p for p in profile.iterdir() if p.name.endswith(".tmp")]
    assert client.get("/voices/alice-1").status_code == 200


def test_profile_files_are_readable_by_the_backend(client, shared):
    clone(client)
    for name in ("reference.wav", "se.pth", "meta.json"):
        assert stat.S_IMODE(os.stat(shared / "voices" / "alice-1" / name).st_mode) == 0o644


@pytest.mark.parametrize(
    ("voice_id", "filename", "content", "status", "detail"),
    [
        ("Alice!", "a.wav", b"x", 400, "voiceId must be"),
        ("alice\n", "a.wav", b"x", 400, "voiceId must be"),
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
    assert not (shared / "voices" / "alice\n").exists()


def test_unusable_audio_is_the_input_s_fault_not_the_service_s(client, engine, shared):
    engine.fail_extraction = UnusableAudio("the reference is silent")
    response = clone(client, "quiet")
    assert response.status_code == 422
    assert response.json()["detail"] == "the reference is silent"
    assert not (shared / "voices" / "quiet").exists()


def test_a_failed_extraction_leaves_the_old_profile_whole(client, engine, shared):
    assert clone(client, "carol", b"RIFF-old", requestedAt="1000").status_code == 201
    engine.fail_extraction = RuntimeError("CUDA out of memory")
    with pytest.raises(RuntimeError):
        clone(client, "carol", b"RIFF-new", requestedAt="2000")
    profile = shared / "voices" / "carol"
    assert (profile / "reference.wav").read_bytes() == b"RIFF-old"
    assert (profile / "se.pth").read_bytes() == b"embedding of RIFF-old"
    versions = list((shared / "voices" / ".profiles" / "carol").iterdir())
    assert [v.name.startswith("1000-") for v in versions] == [True]


def test_an_older_clone_never_replaces_a_newer_profile(client, shared):
    assert clone(client, "dave", b"RIFF-new", requestedAt="2000").status_code == 201
    late = clone(client, "dave", b"RIFF-old", requestedAt="1000")  # redelivered after the newer one
    assert late.status_code == 409
    assert "already replaced by a newer clone" in late.json()["detail"]
    assert (shared / "voices" / "dave" / "reference.wav").read_bytes() == b"RIFF-new"
    assert clone(client, "dave", b"RIFF-newest", requestedAt="3000").status_code == 201
    assert (shared / "voices" / "dave" / "reference.wav").read_bytes() == b"RIFF-newest"
    assert json.loads((shared / "voices" / "dave" / "meta.json").read_text())["requestedAt"] == 3000


def test_the_profile_switch_is_one_rename_of_a_link(client, shared):
    clone(client, "erin", b"RIFF-one", requestedAt="1")
    first = os.readlink(shared / "voices" / "erin")
    clone(client, "erin", b"RIFF-two", requestedAt="2")
    second = os.readlink(shared / "voices" / "erin")
    assert first != second and second.startswith(".profiles/erin/2-")
    clone(client, "erin", b"RIFF-three", requestedAt="3")
    # the current version and the one before it stay; older ones go
    assert len(list((shared / "voices" / ".profiles" / "erin").iterdir())) == 2


def test_a_profile_from_before_versions_is_replaced_atomically(client, shared):
    legacy = shared / "voices" / "fred"
    legacy.mkdir(parents=True)
    (legacy / "se.pth").write_bytes(b"legacy")
    assert clone(client, "fred", b"RIFF-new").status_code == 201
    assert (legacy / "se.pth").read_bytes() == b"embedding of RIFF-new"
    assert legacy.is_symlink()


def test_a_failed_switch_leaves_a_profile_from_before_versions_where_it_was(client, shared, monkeypatch):
    legacy = shared / "voices" / "gina"
    legacy.mkdir(parents=True)
    (legacy / "se.pth").write_bytes(b"legacy")
    real_rename = os.rename

    def refuse_the_switch(src, dst):
        if Path(dst) == legacy and str(src).endswith(".link"):  # the switch itself fails
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", refuse_the_switch)
    with pytest.raises(OSError):
        clone(client, "gina", b"RIFF-new")
    assert not legacy.is_symlink()
    assert (legacy / "se.pth").read_bytes() == b"legacy"
    assert not list((shared / "voices").glob(".gina.*.link"))


def test_accepts_the_upload_exactly_as_the_worker_streams_it(client, shared):
    """The worker builds its multipart body by hand (docker/worker/src/openvoice.ts createVoice)."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="voiceId"\r\n\r\nivy\r\n'
        b'--B\r\nContent-Disposition: form-data; name="requestedAt"\r\n\r\n1764000000123\r\n'
        b'--B\r\nContent-Disposition: form-data; name="reference"; filename="ivy.wav"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\nRIFF-ivy\r\n--B--\r\n"
    )
    response = client.post("/voices", content=body, headers={"content-type": "multipart/form-data; boundary=B"})
    assert response.status_code == 201
    assert response.json()["requestedAt"] == 1764000000123
    assert (shared / "voices" / "ivy" / "reference.wav").read_bytes() == b"RIFF-ivy"


# --- synthesis


def test_synthesize_returns_a_wav_in_the_profile_voice(client):
    clone(client, "bob", b"RIFF")
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
        ({"text": "hi", "language": "EN", "voiceId": "bob\n"}, 400, "voiceId must be"),
        ({"text": "hi", "language": "EN", "voiceId": "bob", "speed": 3}, 400, "speed must be between"),
    ],
)
def test_synthesize_rejects_bad_input(client, body, status, detail):
    clone(client, "bob", b"RIFF")
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

    with TestClient(create_app(make_settings(shared), engine, prepare=slow), headers=AUTH) as test_client:
        response = clone(test_client, "c", b"R")
        assert response.status_code == 503
        gate.append(True)


# --- concurrency: the event loop stays free, the GPU takes one job per slot


def run_concurrently(app, requests):
    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=AUTH) as http:
            return await asyncio.gather(*(request(http) for request in requests))

    return asyncio.run(main())


def test_health_answers_while_a_clone_is_extracting(shared):
    engine = FakeEngine(loaded=True, block=True)
    app = create_app(make_settings(shared), engine)
    answered_while_busy = []

    async def clone_request(http):
        return await http.post("/voices", data={"voiceId": "gina"}, files={"reference": ("g.wav", b"RIFF", "audio/wav")})

    async def health_request(http):
        await asyncio.sleep(0.2)  # the clone is extracting now
        response = await http.get("/health")
        answered_while_busy.append(engine.running == 1)
        engine.release.set()
        return response

    cloned, healthy = run_concurrently(app, [clone_request, health_request])
    assert healthy.status_code == 200 and cloned.status_code == 201
    assert answered_while_busy == [True]


def test_one_synthesis_at_a_time_on_one_gpu_slot(shared):
    engine = FakeEngine(loaded=True, work_seconds=0.2)
    app = create_app(make_settings(shared, gpu_slots=1), engine)
    with_profile(shared, "hank")
    responses = run_concurrently(app, [speaker("hank")] * 3)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert engine.most_at_once == 1


# --- uploads are measured before they are read


def call_asgi(app, method, path, headers):
    received = []

    async def receive():
        received.append(True)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    # What the request guard reads: it answers these requests before the application sees them.
    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": raw_headers}, receive, send))
    return sent[0]["status"], received


def test_an_oversized_upload_is_refused_before_its_body_is_read(shared, engine):
    app = create_app(make_settings(shared), engine)
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=x", "content-length": str(50 * 1024 * 1024)}
    status, received = call_asgi(app, "POST", "/voices", headers)
    assert (status, received) == (413, [])
    status, received = call_asgi(app, "POST", "/voices", {**AUTH, "content-type": "multipart/form-data; boundary=x"})
    assert (status, received) == (411, [])


def test_settings_from_env_name_the_variable():
    token = {"OPENVOICE_API_TOKEN": TOKEN}
    with pytest.raises(ValueError, match="MAX_TEXT_CHARS must be a whole number"):
        Settings.from_env({**token, "MAX_TEXT_CHARS": "many"})
    with pytest.raises(ValueError, match="GPU_SLOTS must be a whole number"):
        Settings.from_env({**token, "GPU_SLOTS": "0"})
    assert Settings.from_env({**token, "SHARED_DIR": "/x"}).voices_dir == Path("/x/voices")


def test_the_image_entry_point_fails_closed_without_a_token(monkeypatch, tmp_path):
    import importlib

    from app.engine import OpenVoiceEngine

    monkeypatch.setattr(OpenVoiceEngine, "gpu_visible", lambda self: False)  # no torch here
    monkeypatch.setenv("SHARED_DIR", str(tmp_path))
    monkeypatch.delenv("OPENVOICE_API_TOKEN", raising=False)
    monkeypatch.delitem(sys.modules, "app.main", raising=False)
    with pytest.raises(SettingsError, match="OPENVOICE_API_TOKEN must be set"):
        importlib.import_module("app.main")
    monkeypatch.setenv("OPENVOICE_API_TOKEN", TOKEN)
    monkeypatch.delitem(sys.modules, "app.main", raising=False)
    entry = importlib.import_module("app.main")
    with TestClient(entry.app) as anonymous:
        assert anonymous.post("/synthesize", json={}).status_code == 401
        # Unpinned models, or none in the (empty) cache: the service says so, loudly, and loads nothing.
        body = wait_health(anonymous, lambda body: "error" in body)
        assert body["modelsLoaded"] is False
        assert body["error"].split(":")[0] in ("PinError", "ChecksumError")
    monkeypatch.delitem(sys.modules, "app.main", raising=False)


# --- the token as a file, and its rotation window


def rotation_app(shared: Path, engine: FakeEngine, current: Path, previous: Path):
    settings = make_settings(shared, api_token_file=current, previous_token_file=previous)
    return create_app(settings, engine, prepare=lambda: shared)


def test_settings_read_the_token_from_its_file_not_the_environment(tmp_path):
    token_file = tmp_path / "openvoice_api_token"
    token_file.write_text(TOKEN + "\n")
    settings = Settings.from_env({"OPENVOICE_API_TOKEN_FILE": str(token_file)})
    assert settings.api_token == TOKEN
    assert settings.api_token_file == token_file
    with pytest.raises(SettingsError, match="OPENVOICE_API_TOKEN_FILE"):
        Settings.from_env({"OPENVOICE_API_TOKEN_FILE": str(tmp_path / "missing")})


def test_accepts_the_previous_token_only_until_its_rotation_window_ends(shared, engine, tmp_path):
    new, old = "n" * 48, TOKEN
    current, previous = tmp_path / "current", tmp_path / "previous"
    current.write_text(new)
    previous.write_text(f"{old} {int(time.time()) + 3600}\n")
    with TestClient(rotation_app(shared, engine, current, previous)) as c:
        wait_loaded(engine)
        for token in (new, old):
            assert c.get("/voices/alice", headers={"Authorization": f"Bearer {token}"}).status_code == 404
        previous.write_text(f"{old} {int(time.time()) - 1}\n")
        assert c.get("/voices/alice", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert c.get("/voices/alice", headers={"Authorization": f"Bearer {new}"}).status_code == 404
        previous.write_text("")
        assert c.get("/voices/alice", headers={"Authorization": f"Bearer {old}"}).status_code == 401


def test_takes_a_rotated_token_without_a_restart(shared, engine, tmp_path):
    current, previous = tmp_path / "current", tmp_path / "previous"
    current.write_text(TOKEN)
    with TestClient(rotation_app(shared, engine, current, previous)) as c:
        wait_loaded(engine)
        rotated = "r" * 48
        current.write_text(rotated)
        assert c.get("/voices/alice", headers={"Authorization": f"Bearer {rotated}"}).status_code == 404
        assert c.get("/voices/alice", headers=AUTH).status_code == 401
        # A token file cut short (being rewritten, or emptied) is never an open door.
        current.write_text("")
        assert c.get("/voices/alice", headers={"Authorization": "Bearer "}).status_code == 401
