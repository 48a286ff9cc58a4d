"""The bearer tokens port 8001 accepts: the current one and, during a rotation, the previous one.

Both come from compose secrets (files, never environment variables) that the host rewrites when
the token is rotated. They are read on every request, so a rotation needs no restart, and the
previous token is accepted only until the end of its window, which the host writes beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .settings import MIN_TOKEN_CHARS, Settings


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def previous_token(path: Optional[Path], now: float) -> Optional[str]:
    """The previous token while its window lasts: the file holds "<token> <accepted until, epoch s>"."""
    if path is None:
        return None
    parts = _read(path).split()
    if len(parts) != 2 or not parts[1].isdigit() or now >= int(parts[1]):
        return None
    return parts[0]


def accepted_tokens(settings: Settings, now: float) -> list[str]:
    """Every token a request may present now; a file cut short or emptied adds none."""
    current = _read(settings.api_token_file) if settings.api_token_file else settings.api_token
    tokens = [current, previous_token(settings.previous_token_file, now)]
    return [t for t in tokens if t is not None and len(t) >= MIN_TOKEN_CHARS]
