"""The HTTP API on port 8001: health, voice profiles, synthesis. Input is checked with clear 4xx."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from .engine import Engine
from .settings import LANGUAGES, REFERENCE_FORMATS, Settings

VOICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class SynthesisRequest(BaseModel):
    text: str
    language: str
    voiceId: str
    speed: float = 1.0


def atomic_path(final: Path) -> Path:
    """A temporary name beside `final` (same file system, so the rename is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(handle)
    return Path(name)


def create_app(settings: Settings, engine: Engine, prepare: Optional[Callable[[], Path]] = None) -> FastAPI:
    """Builds the service. `prepare` fetches the checkpoints and returns their directory; it runs in
    the background at start so /health can answer "loading" meanwhile."""
    app = FastAPI(title="gpu-fleet OpenVoice", version="1.0")
    state = {"error": None}

    def load() -> None:
        try:
            checkpoints = prepare() if prepare else settings.models_dir / "checkpoints_v2"
            engine.load(checkpoints)
        except Exception as error:  # reported by /health, the container stays up to say why
            state["error"] = f"{type(error).__name__}: {error}"

    @app.on_event("startup")
    def start_loading() -> None:
        threading.Thread(target=load, name="load-models", daemon=True).start()

    def voice_dir(voice_id: str) -> Path:
        if not VOICE_ID.match(voice_id):
            raise HTTPException(400, "voiceId must be 1-64 characters: lowercase letters, digits and '-'")
        return settings.voices_dir / voice_id

    @app.get("/health")
    def health() -> JSONResponse:
        gpu = engine.gpu_visible()
        loaded = engine.loaded()
        body = {"status": "ok" if gpu and loaded else "unavailable", "gpu": gpu, "modelsLoaded": loaded}
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if gpu and loaded else 503)

    def require_ready() -> None:
        if not engine.loaded():
            raise HTTPException(503, "models are still loading; retry shortly")

    @app.post("/voices", status_code=201)
    async def create_voice(voiceId: str = Form(...), reference: UploadFile = File(...)) -> dict:
        directory = voice_dir(voiceId)
        suffix = Path(reference.filename or "").suffix.lower()
        if suffix not in REFERENCE_FORMATS:
            raise HTTPException(415, f"reference audio must be one of {', '.join(sorted(REFERENCE_FORMATS))}")
        data = await reference.read(settings.max_reference_bytes + 1)
        if len(data) > settings.max_reference_bytes:
            raise HTTPException(413, f"reference audio is larger than {settings.max_reference_bytes} bytes")
        if len(data) == 0:
            raise HTTPException(400, "reference audio is empty")
        require_ready()
        recording = directory / f"reference{suffix}"
        staged = atomic_path(recording)
        staged.write_bytes(data)
        staged.rename(recording)
        embedding = directory / "se.pth"
        staged_embedding = atomic_path(embedding)
        try:
            engine.extract_voice(recording, staged_embedding)
            staged_embedding.rename(embedding)
        finally:
            staged_embedding.unlink(missing_ok=True)
        return {"voiceId": voiceId, "reference": str(recording), "embedding": str(embedding)}

    @app.get("/voices/{voice_id}")
    def get_voice(voice_id: str) -> dict:
        embedding = voice_dir(voice_id) / "se.pth"
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
        embedding = voice_dir(request.voiceId) / "se.pth"
        if not embedding.exists():
            raise HTTPException(404, f"voice profile {request.voiceId} does not exist")
        require_ready()
        with tempfile.TemporaryDirectory() as scratch:
            wav = Path(scratch) / "speech.wav"
            engine.synthesize(text, request.language, embedding, wav, request.speed)
            return Response(content=wav.read_bytes(), media_type="audio/wav")

    return app
