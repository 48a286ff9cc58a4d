"""Settings from the environment, checked once at start with messages that name the variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# MeloTTS base languages (OpenVoice V2 converts their tone colour to the profile's voice).
LANGUAGES = {"EN": "EN_NEWEST", "JP": "JP", "ZH": "ZH", "ES": "ES", "FR": "FR", "KR": "KR"}
REFERENCE_FORMATS = {".wav", ".mp3", ".flac", ".ogg", ".m4a"}
# The shared secret on port 8001 must be at least this long (the worker checks the same).
MIN_TOKEN_CHARS = 32


class SettingsError(ValueError):
    """The service cannot start with these settings; the message names every problem."""


@dataclass(frozen=True)
class Settings:
    shared_dir: Path
    # Required on every request but GET /health: `Authorization: Bearer <api_token>`.
    api_token: str = ""
    max_reference_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 2000
    # Jobs that may use the GPU at once (the worker sends at most as many).
    gpu_slots: int = 1

    @property
    def models_dir(self) -> Path:
        return self.shared_dir / "models"

    @property
    def voices_dir(self) -> Path:
        return self.shared_dir / "voices"

    @property
    def hf_cache_dir(self) -> Path:
        return self.models_dir / "hf" / "hub"

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        problems: list[str] = []

        def positive_int(name: str, default: int) -> int:
            raw = env.get(name, str(default))
            if not raw.isdigit() or int(raw) <= 0:
                problems.append(f"{name} must be a whole number > 0, got {raw!r}")
                return default
            return int(raw)

        token = env.get("OPENVOICE_API_TOKEN", "")
        if len(token) < MIN_TOKEN_CHARS:
            problems.append(
                f"OPENVOICE_API_TOKEN must be set to the shared secret of port 8001 "
                f"(at least {MIN_TOKEN_CHARS} characters; the host writes it into its compose env file)"
            )
        settings = Settings(
            shared_dir=Path(env.get("SHARED_DIR", "/mnt/shared")),
            api_token=token,
            max_reference_bytes=positive_int("MAX_REFERENCE_BYTES", 10 * 1024 * 1024),
            max_text_chars=positive_int("MAX_TEXT_CHARS", 2000),
            gpu_slots=positive_int("GPU_SLOTS", 1),
        )
        if problems:
            raise SettingsError("; ".join(problems))
        return settings
