"""Settings from the environment, checked once at start with messages that name the variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# MeloTTS base languages (OpenVoice V2 converts their tone colour to the profile's voice).
LANGUAGES = {"EN": "EN_NEWEST", "JP": "JP", "ZH": "ZH", "ES": "ES", "FR": "FR", "KR": "KR"}
REFERENCE_FORMATS = {".wav", ".mp3", ".flac", ".ogg", ".m4a"}


@dataclass(frozen=True)
class Settings:
    shared_dir: Path
    max_reference_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 2000
    checkpoint_url: str = "https://myshell-public-repo-host.s3.amazonaws.com/openvoice/checkpoints_v2_0417.zip"
    # Pin the archive: set it to the sha256 the first fetch recorded (models/<zip>.sha256).
    checkpoint_sha256: str | None = None

    @property
    def models_dir(self) -> Path:
        return self.shared_dir / "models"

    @property
    def voices_dir(self) -> Path:
        return self.shared_dir / "voices"

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)

        def positive_int(name: str, default: int) -> int:
            raw = env.get(name, str(default))
            if not raw.isdigit() or int(raw) <= 0:
                raise ValueError(f"{name} must be a whole number > 0, got {raw!r}")
            return int(raw)

        sha = env.get("OPENVOICE_CHECKPOINT_SHA256") or None
        if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
            raise ValueError(f"OPENVOICE_CHECKPOINT_SHA256 must be 64 hex digits, got {sha!r}")
        return Settings(
            shared_dir=Path(env.get("SHARED_DIR", "/mnt/shared")),
            max_reference_bytes=positive_int("MAX_REFERENCE_BYTES", 10 * 1024 * 1024),
            max_text_chars=positive_int("MAX_TEXT_CHARS", 2000),
            checkpoint_url=env.get("OPENVOICE_CHECKPOINT_URL", Settings.checkpoint_url),
            checkpoint_sha256=sha.lower() if sha else None,
        )
