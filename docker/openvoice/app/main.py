"""Entry point in the image: `uvicorn app.main:app --host 0.0.0.0 --port 8001`.

Refuses to start (with the reason on stderr) without a valid OPENVOICE_API_TOKEN. The models are
fetched and copied to this host beforehand by `python -m app.models fetch`; the service loads the
host's copy, offline, after checking that it is complete.
"""

from __future__ import annotations

from .engine import OpenVoiceEngine
from .local_copy import verify_local_copy
from .server import create_app
from .settings import Settings

settings = Settings.from_env()
app = create_app(
    settings,
    OpenVoiceEngine(settings.vad_dir),
    prepare=lambda: verify_local_copy(settings.local_models_dir),
)
