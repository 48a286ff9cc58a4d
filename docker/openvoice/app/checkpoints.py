"""The OpenVoice V2 checkpoint archive: fetched once, verified, unpacked where it is loaded from.

The archive is downloaded to ``<name>.part`` (resumed with an HTTP Range request after an
interruption), checked against its sha256 and every member's CRC, and only then renamed into
place. `fetch_archive` does that on EFS, against the pinned or locked sha256, or records the sha256
of a first download (app/models.py decides which). `ensure_checkpoints` makes a host's own copy
from a verified source: it checks the archive against the locked sha256 and unpacks it into a
temporary directory that is renamed into place, restoring any unpacked file that differs from its
member. A file lock keeps two processes from fetching or unpacking at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import stat
import urllib.error
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional

CHUNK = 1024 * 1024
COMPLETE_MARKER = ".complete"
# Seconds without a byte from the server before the download counts as stalled.
DOWNLOAD_TIMEOUT_S = 60

Opener = Callable[..., "urllib.response.addinfourl"]


class ChecksumError(RuntimeError):
    """The download does not match its checksum; it was discarded."""


class PinError(RuntimeError):
    """A model is not pinned in the repository: the service refuses to fetch or load it unpinned."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_sha256(value: Optional[str]) -> bool:
    return bool(value) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def archive_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def fetch_archive(
    models_dir: Path,
    url: str,
    expected_sha256: Optional[str],
    opener: Opener = urllib.request.urlopen,
    log: Callable[[str], None] = print,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> str:
    """Downloads the archive into models_dir unless it is there, checks it and returns its sha256:
    the expected one, or (expected None: first use) whatever the whole, CRC-clean download has."""
    with _verified_archive(models_dir, url, expected_sha256, opener, log, timeout) as (_, sha256):
        return sha256


def ensure_checkpoints(
    models_dir: Path,
    url: str,
    expected_sha256: Optional[str],
    opener: Opener = urllib.request.urlopen,
    log: Callable[[str], None] = print,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Returns the unpacked checkpoint directory after checking it against the pinned archive,
    fetching and unpacking first when needed."""
    if not is_sha256(expected_sha256):
        raise PinError(
            f"the sha256 of {url} is not pinned: set checkpoint.sha256 in docker/openvoice/app/model_pins.json "
            "(64 lowercase hex digits) to the archive's published or reviewed hash; nothing is fetched unpinned"
        )
    target = models_dir / archive_name(url).removesuffix(".zip")
    with _verified_archive(models_dir, url, expected_sha256, opener, log, timeout) as (archive, _):
        if (target / COMPLETE_MARKER).exists() and _matches_archive(archive, target, log):
            return target
        _unpack(archive, target)
        log(f"checkpoints ready in {target}")
        return target


@contextmanager
def _verified_archive(
    models_dir: Path, url: str, expected: Optional[str], opener: Opener, log: Callable[[str], None], timeout: float
) -> Iterator[tuple[Path, str]]:
    """The archive in models_dir, downloaded first unless it is there, checked (one that fails is
    removed), with its sha256; the file lock is held until the block ends."""
    models_dir.mkdir(parents=True, exist_ok=True)
    name = archive_name(url)
    archive, part = models_dir / name, models_dir / f"{name}.part"
    with (models_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not archive.exists():
            _download(url, part, opener, log, timeout)
            part.rename(archive)
        try:
            sha256 = _verify(archive, expected)
        except ChecksumError:
            archive.unlink()
            raise
        yield archive, sha256


def _download(url: str, part: Path, opener: Opener, log: Callable[[str], None], timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = opener(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Nothing past the end: the part is already whole (the sha256 check decides).
            log(f"{part.name} is already complete ({offset} bytes)")
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            log(f"server ignored the resume request (HTTP {status}); downloading {url} again")
            offset = 0
        elif offset:
            log(f"resuming {url} at byte {offset}")
        with part.open("ab" if offset else "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)


def _verify(archive: Path, expected: Optional[str]) -> str:
    actual = sha256_of(archive)
    if expected is not None and actual != expected:
        raise ChecksumError(f"{archive.name}: sha256 {actual} does not match the pinned {expected}")
    try:
        with zipfile.ZipFile(archive) as zipped:
            broken = zipped.testzip()
    except zipfile.BadZipFile as error:
        raise ChecksumError(f"{archive.name}: not a complete zip archive ({error})") from error
    if broken is not None:
        raise ChecksumError(f"{archive.name}: member {broken} fails its CRC check")
    return actual


def _root_prefix(names: list[str]) -> str:
    """The archive holds one top-level folder (checkpoints_v2/); its content is the target."""
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) == 1 and all(n != next(iter(tops)) for n in names):
        return next(iter(tops)) + "/"
    return ""


def _matches_archive(archive: Path, target: Path, log: Callable[[str], None]) -> bool:
    """True when every unpacked file has exactly the content of its (verified) archive member."""
    with zipfile.ZipFile(archive) as zipped:
        prefix = _root_prefix(zipped.namelist())
        for info in zipped.infolist():
            if info.is_dir():
                continue
            unpacked = target / info.filename.removeprefix(prefix)
            if not unpacked.is_file() or unpacked.is_symlink() or unpacked.stat().st_size != info.file_size:
                log(f"{unpacked} is missing or changed; unpacking the verified archive again")
                return False
            digest = hashlib.sha256()
            with zipped.open(info) as member:
                for block in iter(lambda: member.read(CHUNK), b""):
                    digest.update(block)
            if sha256_of(unpacked) != digest.hexdigest():
                log(f"{unpacked} was changed on the shared file system; unpacking the verified archive again")
                return False
    return True


def _check_member(info: zipfile.ZipInfo, staging: Path, archive: Path) -> None:
    path = PurePosixPath(info.filename)
    mode = info.external_attr >> 16
    if (
        path.is_absolute()
        or ".." in path.parts
        or "\\" in info.filename
        or stat.S_ISLNK(mode)
        or not (staging / path).resolve().is_relative_to(staging.resolve())
    ):
        raise ChecksumError(f"{archive.name}: member {info.filename} would escape the target directory")


def _unpack(archive: Path, target: Path) -> None:
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            _check_member(info, staging, archive)
        prefix = _root_prefix(zipped.namelist())
        zipped.extractall(staging)
    root = staging / prefix.rstrip("/") if prefix else staging
    (root / COMPLETE_MARKER).write_text("ok\n")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    root.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
