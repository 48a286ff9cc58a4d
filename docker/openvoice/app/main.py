"""Entry point in the image: `uvicorn app.main:app --host 0.0.0.0 --port 8001`.

Refuses to start (with the reason on stderr) without a valid OPENVOICE_API_TOKEN. The models are
fetched beforehand by `python -m app.models fetch`; the service only verifies them, offline.
"""

from __future__ import annotations

from .engine import OpenVoiceEngine
from .models import load_pins, verify_models
from .server import create_app
from .settings import Settings

settings = Settings.from_env()
pins = load_pins()
app = create_app(
    settings,
    OpenVoiceEngine(),
    prepare=lambda: verify_models(pins, settings.models_dir, settings.hf_cache_dir),
)
