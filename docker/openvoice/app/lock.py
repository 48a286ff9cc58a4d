"""The model lock: every model file the service loads, at which commit, with its sha256 and size.

It lives on EFS (models/models.lock.json), written by the models step; each host keeps a copy of
the lock its local model copy was made from. JSON shape:
  {"checkpoint": {"url", "sha256", "size"},
   "huggingface": {repo: {"revision": commit, "files": {name: {"sha256", "size"}}}}}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

LOCK_NAME = "models.lock.json"

Lock = dict


def snapshot_dir(cache_dir: Path, repo: str, revision: str) -> Path:
    """Where huggingface_hub keeps a repository's files at a commit."""
    return cache_dir / f"models--{repo.replace('/', '--')}" / "snapshots" / revision


def cache_path(repo: str, revision: str, name: str) -> str:
    """A file's path inside a Hugging Face cache, the same on EFS and on every host."""
    return str(snapshot_dir(Path(), repo, revision) / name)


def locked_files(lock: Lock) -> dict[str, dict]:
    """Every Hugging Face file of the lock, by its path inside the cache, with sha256 and size."""
    return {
        cache_path(repo, entry["revision"], name): known
        for repo, entry in lock["huggingface"].items()
        for name, known in entry["files"].items()
    }


def lock_digest(lock: Lock) -> str:
    return hashlib.sha256(json.dumps(lock, sort_keys=True).encode()).hexdigest()


def read_lock(path: Path) -> Lock:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_json(path: Path, value) -> None:
    """Whole or not at all: a reader sees the old content or the new."""
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(staged, path)
