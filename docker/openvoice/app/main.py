"""Entry point in the image: `uvicorn app.main:app --host 0.0.0.0 --port 8001`."""

from __future__ import annotations

from .checkpoints import ensure_checkpoints
from .engine import OpenVoiceEngine
from .server import create_app
from .settings import Settings

settings = Settings.from_env()
app = create_app(
    settings,
    OpenVoiceEngine(),
    prepare=lambda: ensure_checkpoints(settings.models_dir, settings.checkpoint_url, settings.checkpoint_sha256),
)
