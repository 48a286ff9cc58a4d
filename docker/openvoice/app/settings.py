"""Settings from the environment, checked once at start with messages that name the variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# MeloTTS base languages (OpenVoice V2 converts their tone colour to the profile's voice).
LANGUAGES = {"EN": "EN_NEWEST", "JP": "JP", "ZH": "ZH", "ES": "ES", "FR": "FR", "KR": "KR"}
REFERENCE_FORMATS = {".wav", ".mp3", ".flac", ".ogg", ".m4a"}
# How models not pinned in the repository are treated (app/models.py).
TRUST_MODES = ("first-use", "strict")
# The shared secret on port 8001 must be at least this long (the worker checks the same).
MIN_TOKEN_CHARS = 32


class SettingsError(ValueError):
    """The service cannot start with these settings; the message names every problem."""


@dataclass(frozen=True)
class Settings:
    shared_dir: Path
    # Required on every request but GET /health: `Authorization: Bearer <api_token>`.
    api_token: str = ""
    # Where the token comes from (a compose secret): read again on every request, so a rotated
    # token needs no restart. The previous token's file holds "<token> <accepted until, epoch s>".
    api_token_file: Optional[Path] = None
    previous_token_file: Optional[Path] = None
    max_reference_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 2000
    # Jobs that may use the GPU at once (the worker sends at most as many).
    gpu_slots: int = 1
    # LOCAL_MODELS_DIR: the host's own verified copy of the models (on its EBS root volume),
    # read-only here. @default /models
    local_models_dir: Path = Path("/models")
    # SILERO_VAD_DIR: silero-vad as vendored in the image (voice activity for cloning).
    # @default /opt/silero-vad
    vad_dir: Path = Path("/opt/silero-vad")

    @property
    def models_dir(self) -> Path:
        return self.shared_dir / "models"

    @property
    def voices_dir(self) -> Path:
        return self.shared_dir / "voices"

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

        token_file = Path(env["OPENVOICE_API_TOKEN_FILE"]) if env.get("OPENVOICE_API_TOKEN_FILE") else None
        token = env.get("OPENVOICE_API_TOKEN", "")
        if token_file is not None:
            try:
                token = token_file.read_text().strip()
            except OSError as error:
                problems.append(f"OPENVOICE_API_TOKEN_FILE {token_file} cannot be read: {error.strerror}")
        if len(token) < MIN_TOKEN_CHARS:
            problems.append(
                f"OPENVOICE_API_TOKEN must be set to the shared secret of port 8001 "
                f"(at least {MIN_TOKEN_CHARS} characters; the host writes it into its compose env file)"
            )
        settings = Settings(
            shared_dir=Path(env.get("SHARED_DIR", "/mnt/shared")),
            api_token=token,
            api_token_file=token_file,
            previous_token_file=(
                Path(env["OPENVOICE_API_TOKEN_PREVIOUS_FILE"]) if env.get("OPENVOICE_API_TOKEN_PREVIOUS_FILE") else None
            ),
            max_reference_bytes=positive_int("MAX_REFERENCE_BYTES", 10 * 1024 * 1024),
            max_text_chars=positive_int("MAX_TEXT_CHARS", 2000),
            gpu_slots=positive_int("GPU_SLOTS", 1),
            local_models_dir=Path(env.get("LOCAL_MODELS_DIR", "/models")),
            vad_dir=Path(env.get("SILERO_VAD_DIR", "/opt/silero-vad")),
        )
        if problems:
            raise SettingsError("; ".join(problems))
        return settings


@dataclass(frozen=True)
class ModelSettings:
    """The one-shot models step: where models are fetched (EFS), copied (the host's disk), and how
    models the repository does not pin are trusted."""

    # SHARED_DIR: the EFS mount. @default /mnt/shared
    shared_dir: Path
    # LOCAL_MODELS_DIR: compose mounts the host's /var/lib/gpu-fleet/models there. @default /models
    local_models_dir: Path = Path("/models")
    # MODEL_TRUST: "first-use" records unpinned models in the lock at their first fetch and
    # verifies against it after; "strict" refuses anything not pinned in app/model_pins.json.
    # @default "first-use"
    trust: str = "first-use"

    @property
    def models_dir(self) -> Path:
        return self.shared_dir / "models"

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> "ModelSettings":
        env = dict(os.environ if env is None else env)
        trust = env.get("MODEL_TRUST", "first-use")
        if trust not in TRUST_MODES:
            raise SettingsError(f"MODEL_TRUST must be one of {', '.join(TRUST_MODES)}, got {trust!r}")
        return ModelSettings(
            shared_dir=Path(env.get("SHARED_DIR", "/mnt/shared")),
            local_models_dir=Path(env.get("LOCAL_MODELS_DIR", "/models")),
            trust=trust,
        )
