"""The HTTP API on port 8001: health, voice profiles, synthesis. Input is checked with clear 4xx.

Every request but GET /health needs `Authorization: Bearer <OPENVOICE_API_TOKEN>`. GPU work runs
in worker threads (the event loop stays free for /health) behind one lock per GPU slot. A voice
profile is built beside the current one and switched in with one atomic rename, and clones of a
voice are ordered by the time their job was sent, so an old redelivered clone cannot overwrite a
newer profile.
"""

from __future__ import annotations

import asyncio
import fcntl
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from .engine import Engine, UnusableAudio
from .settings import LANGUAGES, MIN_TOKEN_CHARS, REFERENCE_FORMATS, Settings, SettingsError
from .tokens import accepted_tokens

VOICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Room for the multipart framing and the small form fields around the recording.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_JSON_BYTES = 64 * 1024
# Profiles are read by the backend on the app host (same uid/gid 1000, group-writable folders).
FILE_MODE = 0o644
DIR_MODE = 0o2775
PROFILES = ".profiles"
KEEP_VERSIONS = 2
# /health: an inference running longer than this is stuck (a long text takes a minute or two on a
# T4); a storage check slower than this counts as unwritable storage.
STUCK_INFERENCE_SECONDS = 600.0
STORAGE_CHECK_SECONDS = 5.0


class SynthesisRequest(BaseModel):
    text: str
    language: str
    voiceId: str
    speed: float = 1.0


class RequestGuard:
    """ASGI middleware: a bearer token on every request but GET /health (the current one, or the
    previous one during a rotation: `tokens` says which now), compared in constant time; and a
    body-size limit checked on Content-Length before any byte of the body is read
    (an upload is never spooled to disk first and measured after)."""

    def __init__(self, app, tokens: Callable[[], list[str]], max_upload_bytes: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        if not (path == "/health" and method in ("GET", "HEAD")):
            presented = headers.get(b"authorization", b"")
            if not any(hmac.compare_digest(presented, f"Bearer {t}".encode()) for t in self.tokens()):
                await self._refuse(send, 401, "missing or wrong bearer token", {b"www-authenticate": b"Bearer"})
                return
        if method in ("POST", "PUT", "PATCH"):
            limit = self.max_upload_bytes + FORM_OVERHEAD_BYTES if path == "/voices" else MAX_JSON_BYTES
            length = headers.get(b"content-length")
            if length is None or not length.isdigit():
                await self._refuse(send, 411, "a Content-Length header is required")
                return
            if int(length) > limit:
                await self._refuse(send, 413, f"the request body is larger than {limit} bytes")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send, status: int, detail: str, extra: Optional[dict] = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += list((extra or {}).items())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class InferenceWatch:
    """The engine, with the start time of every GPU call in progress: /health tells a stuck one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._started: dict[int, float] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def _watched(self, call, *args):
        token = object()
        with self._lock:
            self._started[id(token)] = time.monotonic()
        try:
            return call(*args)
        finally:
            with self._lock:
                del self._started[id(token)]

    def extract_voice(self, *args):
        return self._watched(self.engine.extract_voice, *args)

    def synthesize(self, *args):
        return self._watched(self.engine.synthesize, *args)

    def longest_running_seconds(self) -> float:
        now = time.monotonic()
        with self._lock:
            return max((now - started for started in self._started.values()), default=0.0)


def check_storage(folders: list[Path]) -> dict:
    """Writes, flushes and removes a small file in each folder the service writes to."""
    problems = []
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".health-") as probe:
                probe.write(b"ok")
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as error:
            problems.append(f"{folder}: {error.strerror or error}")
    return {"writable": False, "error": "; ".join(problems)} if problems else {"writable": True}


def create_app(
    settings: Settings,
    engine: Engine,
    prepare: Optional[Callable[[], Path]] = None,
    stuck_after_seconds: float = STUCK_INFERENCE_SECONDS,
):
    """Builds the service. `prepare` verifies the models and returns the checkpoint directory; it
    runs in the background at start so /health can answer "loading" meanwhile."""
    if len(settings.api_token) < MIN_TOKEN_CHARS:
        raise SettingsError(f"OPENVOICE_API_TOKEN must be at least {MIN_TOKEN_CHARS} characters; refusing to start")
    app = FastAPI(title="gpu-fleet OpenVoice", version="1.0")
    engine = InferenceWatch(engine)
    storage_check: dict = {"running": None}
    state = {"error": None}
    gpu = threading.BoundedSemaphore(settings.gpu_slots)
    voice_locks: dict[str, threading.Lock] = {}
    voice_locks_guard = threading.Lock()

    def load() -> None:
        try:
            checkpoints = prepare() if prepare else settings.models_dir / "checkpoints_v2"
            with gpu:
                engine.load(checkpoints)
        except Exception as error:  # reported by /health, the container stays up to say why
            state["error"] = f"{type(error).__name__}: {error}"

    @app.on_event("startup")
    def start_loading() -> None:
        threading.Thread(target=load, name="load-models", daemon=True).start()

    def check_voice_id(voice_id: str) -> str:
        if not VOICE_ID.fullmatch(voice_id):
            raise HTTPException(400, "voiceId must be 1-64 characters: lowercase letters, digits and '-'")
        return voice_id

    async def storage_state() -> dict:
        """Profiles and synthesis scratch writable, checked off the event loop; one check at a time,
        so a hung mount does not pile up threads."""
        if storage_check["running"] is None or storage_check["running"].done():
            folders = [settings.voices_dir / PROFILES, Path(tempfile.gettempdir())]
            storage_check["running"] = asyncio.get_running_loop().run_in_executor(None, check_storage, folders)
        try:
            return await asyncio.wait_for(asyncio.shield(storage_check["running"]), STORAGE_CHECK_SECONDS)
        except asyncio.TimeoutError:
            return {"writable": False, "error": f"no answer from the storage within {STORAGE_CHECK_SECONDS:g} s"}

    @app.get("/health")
    async def health() -> JSONResponse:
        gpu_visible = engine.gpu_visible()
        loaded = engine.loaded()
        storage = await storage_state()
        running = engine.longest_running_seconds()
        stuck = running > stuck_after_seconds
        ok = gpu_visible and loaded and storage["writable"] and not stuck
        body = {
            "status": "ok" if ok else "unavailable",
            "gpu": gpu_visible,
            "modelsLoaded": loaded,
            "storage": storage,
            "gpuStuck": stuck,
        }
        if stuck:
            body["longestInferenceSeconds"] = round(running, 1)
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if ok else 503)

    def require_ready() -> None:
        if not engine.loaded():
            raise HTTPException(503, "models are still loading; retry shortly")

    @contextmanager
    def voice_lock(voice_id: str) -> Iterator[None]:
        """One clone of a voice at a time, in this process (thread lock) and across processes (flock)."""
        with voice_locks_guard:
            local = voice_locks.setdefault(voice_id, threading.Lock())
        locks = settings.voices_dir / PROFILES / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with local, (locks / f"{voice_id}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def current_requested_at(voice_id: str) -> Optional[int]:
        meta = settings.voices_dir / voice_id / "meta.json"
        try:
            return int(json.loads(meta.read_text())["requestedAt"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_file(path: Path, data: bytes) -> None:
        with open(path, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(path, FILE_MODE)

    def switch_to(voice_id: str, version: Path) -> None:
        """Points voices/<id> at the new version with one rename: a reader sees the old or the new
        profile, whole, never a mix."""
        link = settings.voices_dir / voice_id
        staged = settings.voices_dir / f".{voice_id}.{secrets.token_hex(6)}.link"
        staged.symlink_to(Path(PROFILES) / voice_id / version.name)
        aside = None
        try:
            if link.is_dir() and not link.is_symlink():  # a profile from before versions: keep it aside
                aside = version.parent / f"legacy-{secrets.token_hex(4)}"
                os.rename(link, aside)
            os.rename(staged, link)
        except BaseException:
            # Nothing switched: the profile from before versions goes back where readers find it.
            if aside is not None and not link.exists():
                os.rename(aside, link)
            staged.unlink(missing_ok=True)
            raise

    def prune(voice_id: str, keep: Path) -> None:
        versions = sorted(
            (p for p in (settings.voices_dir / PROFILES / voice_id).iterdir() if p.is_dir() and p != keep),
            key=lambda p: p.stat().st_mtime,
        )
        # The newest older version stays, for a synthesis that resolved the link just before the switch.
        for old in versions[: max(0, len(versions) - (KEEP_VERSIONS - 1))]:
            shutil.rmtree(old, ignore_errors=True)

    @app.post("/voices", status_code=201)
    def create_voice(
        voiceId: str = Form(...),
        reference: UploadFile = File(...),
        requestedAt: Optional[int] = Form(None),
    ) -> dict:
        voice_id = check_voice_id(voiceId)
        suffix = Path(reference.filename or "").suffix.lower()
        if suffix not in REFERENCE_FORMATS:
            raise HTTPException(415, f"reference audio must be one of {', '.join(sorted(REFERENCE_FORMATS))}")
        data = reference.file.read(settings.max_reference_bytes + 1)
        if len(data) > settings.max_reference_bytes:
            raise HTTPException(413, f"reference audio is larger than {settings.max_reference_bytes} bytes")
        if len(data) == 0:
            raise HTTPException(400, "reference audio is empty")
        require_ready()
        requested_at = requestedAt if requestedAt is not None else int(time.time() * 1000)
        with voice_lock(voice_id):
            current = current_requested_at(voice_id)
            if current is not None and requested_at < current:
                raise HTTPException(
                    409, f"voice profile {voice_id} was already replaced by a newer clone (sent at {current} ms)"
                )
            versions = settings.voices_dir / PROFILES / voice_id
            versions.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            version = Path(tempfile.mkdtemp(dir=versions, prefix=f"{requested_at}-"))
            try:
                os.chmod(version, DIR_MODE)
                recording = version / f"reference{suffix}"
                write_file(recording, data)
                staged_embedding = version / ".se.pth.tmp"
                with gpu:
                    engine.extract_voice(recording, staged_embedding)
                os.chmod(staged_embedding, FILE_MODE)
                os.rename(staged_embedding, version / "se.pth")
                meta = {"voiceId": voice_id, "requestedAt": requested_at, "reference": recording.name}
                write_file(version / "meta.json", json.dumps(meta).encode())
                switch_to(voice_id, version)
            except UnusableAudio as error:
                shutil.rmtree(version, ignore_errors=True)
                raise HTTPException(422, str(error)) from error
            except BaseException:
                shutil.rmtree(version, ignore_errors=True)
                raise
            prune(voice_id, version)
        directory = settings.voices_dir / voice_id
        return {
            "voiceId": voice_id,
            "reference": str(directory / recording.name),
            "embedding": str(directory / "se.pth"),
            "requestedAt": requested_at,
        }

    @app.get("/voices/{voice_id}")
    def get_voice(voice_id: str) -> dict:
        embedding = settings.voices_dir / check_voice_id(voice_id) / "se.pth"
        if not embedding.exists():
            raise HTTPException(404, f"voice profile {voice_id} does not exist")
        return {"voiceId": voice_id, "embedding": str(embedding)}

    @app.post("/synthesize")
    def synthesize(request: SynthesisRequest) -> Response:
        text = request.text.strip()
        if not text:
            raise HTTPException(400, "text is empty")
        if len(text) > settings.max_text_chars:
            raise HTTPException(413, f"text is longer than {settings.max_text_chars} characters")
        if request.language not in LANGUAGES:
            raise HTTPException(400, f"language must be one of {', '.join(sorted(LANGUAGES))}")
        if not 0.5 <= request.speed <= 2.0:
            raise HTTPException(400, "speed must be between 0.5 and 2.0")
        embedding = settings.voices_dir / check_voice_id(request.voiceId) / "se.pth"
        if not embedding.exists():
            raise HTTPException(404, f"voice profile {request.voiceId} does not exist")
        require_ready()
        with tempfile.TemporaryDirectory() as scratch:
            wav = Path(scratch) / "speech.wav"
            with gpu:
                engine.synthesize(text, request.language, embedding, wav, request.speed)
            return Response(content=wav.read_bytes(), media_type="audio/wav")

    return RequestGuard(app, lambda: accepted_tokens(settings, time.time()), settings.max_reference_bytes)
