"""Each GPU host's own verified copy of the models, on its EBS root volume (it survives a stop).

The models step brings the copy up to the lock, copying from EFS (hashed while copied) only the
files the copy does not hold verified already, and nothing at all when the lock is unchanged. The
service checks the copy by `stat` alone and loads it offline: a warm start reads nothing but the
lock from EFS and hashes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from .checkpoints import CHUNK, COMPLETE_MARKER, ChecksumError, archive_name, ensure_checkpoints
from .lock import LOCK_NAME, Lock, lock_digest, locked_files, read_lock, write_json

# Which lock the copy was made from (written last); and every file verified on this host (its
# path in the cache and its sha256).
SYNCED_MARKER = ".synced-lock-sha256"
VERIFIED = ".verified.json"

Log = Callable[[str], None]


class LocalCopy:
    """The host's copy: a Hugging Face cache plus the record of which files were verified here."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = root / "hf" / "hub"
        self.verified: dict[str, str] = json.loads((root / VERIFIED).read_text()) if (root / VERIFIED).is_file() else {}

    def mark_verified(self, relative: str, sha256: str) -> None:
        self.verified[relative] = sha256
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / VERIFIED, self.verified)

    def holds(self, relative: str, known: dict) -> bool:
        path = self.cache / relative
        return self.verified.get(relative) == known["sha256"] and path.is_file() and path.stat().st_size == known["size"]


def _copy_verified(source: Path, target: Path, expected: str) -> None:
    """One read of the source: hashed while it is copied, renamed into place only when it matches.
    A source that does not match is removed, so the next fetch downloads it again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(staged, "wb") as out:
        for block in iter(lambda: src.read(CHUNK), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != expected:
        staged.unlink()
        source.unlink()
        raise ChecksumError(f"{source} on the shared file system does not match the lock; removed, the next fetch restores it")
    os.replace(staged, target)


def checkpoints_dir(local_dir: Path, lock: Lock) -> Path:
    return local_dir / archive_name(lock["checkpoint"]["url"]).removesuffix(".zip")


def local_copy_problems(local_dir: Path) -> list[str]:
    """What keeps the host's copy from being loaded, by stat alone (the copy was verified as it was made)."""
    lock = read_lock(local_dir / LOCK_NAME)
    marker = local_dir / SYNCED_MARKER
    if not lock or not marker.is_file() or marker.read_text().strip() != lock_digest(lock):
        return [f"no complete copy of the models in {local_dir}; the models step must run first"]
    cache = local_dir / "hf" / "hub"
    problems = [
        f"{relative} is missing or has the wrong size"
        for relative, known in locked_files(lock).items()
        if not (cache / relative).is_file() or (cache / relative).stat().st_size != known["size"]
    ]
    if not (checkpoints_dir(local_dir, lock) / COMPLETE_MARKER).is_file():
        problems.append(f"{checkpoints_dir(local_dir, lock)} is not unpacked")
    return problems


def sync_local_copy(lock: Lock, shared_models_dir: Path, local_dir: Path, log: Log = print) -> Path:
    """Makes the host's own copy match the lock; returns its checkpoint directory. Reads from EFS
    only what the copy lacks, and nothing when it was made from this same lock."""
    if not local_copy_problems(local_dir) and read_lock(local_dir / LOCK_NAME) == lock:
        return checkpoints_dir(local_dir, lock)
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / SYNCED_MARKER).unlink(missing_ok=True)
    local = LocalCopy(local_dir)
    wanted = locked_files(lock)
    cache, shared_cache = local.cache, shared_models_dir / "hf" / "hub"
    copied = 0
    for relative, known in wanted.items():
        if local.holds(relative, known):
            continue
        target = cache / relative
        if target.is_symlink():
            target.unlink()
        _copy_verified(shared_cache / relative, target, known["sha256"])
        local.mark_verified(relative, known["sha256"])
        copied += known["size"]
    for relative in set(local.verified) - set(wanted):
        (cache / relative).unlink(missing_ok=True)
        del local.verified[relative]
    write_json(local_dir / VERIFIED, local.verified)
    for repo, entry in lock["huggingface"].items():
        # MeloTTS and transformers ask for the default branch; offline, huggingface_hub resolves it
        # through refs/main, so main names the locked commit and nothing else.
        refs = cache / f"models--{repo.replace('/', '--')}" / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / "main").write_text(entry["revision"])
    target = _sync_checkpoints(lock["checkpoint"], shared_models_dir, local_dir, log)
    write_json(local_dir / LOCK_NAME, lock)
    (local_dir / SYNCED_MARKER).write_text(lock_digest(lock) + "\n")
    log(f"local model copy in {local_dir} matches lock {lock_digest(lock)[:12]} ({copied} bytes copied)")
    return target


def _sync_checkpoints(checkpoint: dict, shared_models_dir: Path, local_dir: Path, log: Log) -> Path:
    """The unpacked checkpoints from this host's archive, copied from EFS first when it has none.
    An EFS archive that does not match the lock is removed, so the next fetch downloads it again."""
    shared_archive = shared_models_dir / archive_name(checkpoint["url"])
    from_shared = not (local_dir / archive_name(checkpoint["url"])).exists()

    def open_shared(request, timeout=None):  # ensure_checkpoints' opener: the archive on EFS, not the internet
        return open(shared_archive, "rb")

    try:
        return ensure_checkpoints(local_dir, checkpoint["url"], checkpoint["sha256"], opener=open_shared, log=log)
    except ChecksumError as error:
        if from_shared:
            shared_archive.unlink(missing_ok=True)
            raise ChecksumError(f"{error}; {shared_archive} removed, the next fetch restores it") from error
        raise


def verify_local_copy(local_dir: Path, log: Log = print) -> Path:
    """At service start, offline and without hashing: the host's copy is complete for its lock."""
    problems = local_copy_problems(local_dir)
    if problems:
        raise ChecksumError("; ".join(problems))
    lock = read_lock(local_dir / LOCK_NAME)
    log(f"models: local copy of lock {lock_digest(lock)[:12]} ({len(locked_files(lock))} files)")
    return checkpoints_dir(local_dir, lock)
