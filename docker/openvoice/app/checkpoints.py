"""Fetches the OpenVoice V2 checkpoints once into EFS, and never lets a partial download be used.

The archive is downloaded to ``<name>.part`` (resumed with an HTTP Range request after an
interruption), checked — every member's CRC32 via ``zipfile.testzip`` and, when pinned, the
archive's sha256 — and only then unpacked into a temporary directory that is renamed into
place. The final directory therefore exists only when it is complete; later starts reuse it.
A file lock keeps two processes from fetching at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Optional

CHUNK = 1024 * 1024
COMPLETE_MARKER = ".complete"

Opener = Callable[[urllib.request.Request], "urllib.response.addinfourl"]


class ChecksumError(RuntimeError):
    """The download does not match its checksum; it was discarded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_checkpoints(
    models_dir: Path,
    url: str,
    expected_sha256: Optional[str] = None,
    opener: Opener = urllib.request.urlopen,
    log: Callable[[str], None] = print,
) -> Path:
    """Returns the unpacked checkpoint directory, fetching it first if it is not complete."""
    models_dir.mkdir(parents=True, exist_ok=True)
    name = url.rstrip("/").rsplit("/", 1)[-1]
    target = models_dir / name.removesuffix(".zip")
    if (target / COMPLETE_MARKER).exists():
        return target

    with (models_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / COMPLETE_MARKER).exists():  # another process finished while we waited
            return target
        archive = models_dir / name
        if not archive.exists():
            _download(url, models_dir / f"{name}.part", opener, log)
            (models_dir / f"{name}.part").rename(archive)
        try:
            _verify(archive, expected_sha256, models_dir / f"{name}.sha256", log)
        except ChecksumError:
            archive.unlink()
            raise
        _unpack(archive, target)
        log(f"checkpoints ready in {target}")
        return target


def _download(url: str, part: Path, opener: Opener, log: Callable[[str], None]) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with opener(request) as response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            log(f"server ignored the resume request (HTTP {status}); downloading {url} again")
            offset = 0
        elif offset:
            log(f"resuming {url} at byte {offset}")
        with part.open("ab" if offset else "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)


def _verify(archive: Path, expected: Optional[str], pin_file: Path, log: Callable[[str], None]) -> None:
    actual = sha256_of(archive)
    pinned = expected or (pin_file.read_text().strip() if pin_file.exists() else None)
    if pinned and actual != pinned:
        raise ChecksumError(f"{archive.name}: sha256 {actual} does not match the pinned {pinned}")
    try:
        with zipfile.ZipFile(archive) as zipped:
            broken = zipped.testzip()
    except zipfile.BadZipFile as error:
        raise ChecksumError(f"{archive.name}: not a complete zip archive ({error})") from error
    if broken is not None:
        raise ChecksumError(f"{archive.name}: member {broken} fails its CRC check")
    if not pinned:
        pin_file.write_text(actual + "\n")
        log(f"{archive.name}: sha256 {actual} recorded; pin it with OPENVOICE_CHECKPOINT_SHA256")


def _unpack(archive: Path, target: Path) -> None:
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.namelist():
            resolved = (staging / member).resolve()
            if not str(resolved).startswith(str(staging.resolve())):
                raise ChecksumError(f"{archive.name}: member {member} would escape the target directory")
        zipped.extractall(staging)
    # The archive holds one top-level folder (checkpoints_v2/); keep its content.
    entries = list(staging.iterdir())
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
    (root / COMPLETE_MARKER).write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    root.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
