"""Every model file the service loads: how it is trusted, fetched once, and copied to each host.

Trust. app/model_pins.json names every file; a value there (a Hugging Face commit, a sha256) is a
pin the repository vouches for. What it leaves null is trusted on first use: the default branch is
resolved to a commit once, every file's sha256 is recorded, and the record (the lock,
models/models.lock.json on EFS) is what every later fetch and copy is verified against. Each such
record is logged loudly, and `python -m app.models lock` prints the lock as model_pins.json content
for a team to review and commit. MODEL_TRUST=strict refuses anything the repository does not pin.

Where the bytes go. `python -m app.models fetch` runs once per boot before the service (compose's
one-shot `models` service, the only container with network access to model hosts):
  1. fetch: what EFS does not hold yet (by the lock: a file it lists, with its size, is not read
     again) is downloaded onto the host's own disk (LOCAL_MODELS_DIR, on the instance's EBS root
     volume, which survives a stop), verified there and published to EFS; then the lock is written;
  2. sync: the host's copy is brought up to the lock, copying from EFS (hashed while copied) only
     the files it does not hold verified already; nothing at all when the lock has not changed.
The service (HF_HUB_OFFLINE=1) loads from that local copy and checks only that it is complete for
the lock it was made from: a warm start reads nothing but the lock from EFS.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

from .checkpoints import CHUNK, ChecksumError, PinError, archive_name, fetch_archive, is_sha256, sha256_of
from .local_copy import LocalCopy, sync_local_copy
from .lock import LOCK_NAME, Lock, cache_path, lock_digest, read_lock, write_json

PINS_FILE = Path(__file__).with_name("model_pins.json")
COMMIT = re.compile(r"[0-9a-f]{40}")
TRUST_FIRST_USE = "first-use"
TRUST_STRICT = "strict"
LOUD = "!" * 8

Log = Callable[[str], None]


class Hub(Protocol):
    def resolve(self, repo: str) -> str:
        """The commit the repository's default branch names now."""

    def download(self, repo: str, filename: str, revision: str, cache_dir: Path) -> Path:
        """One file at a commit, into a Hugging Face cache; returns its path."""


class HuggingFaceHub:
    """The Hub through huggingface_hub (only in the one-shot models step)."""

    def resolve(self, repo: str) -> str:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo).sha

    def download(self, repo: str, filename: str, revision: str, cache_dir: Path) -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo, filename=filename, revision=revision, cache_dir=str(cache_dir)))


@dataclass(frozen=True)
class Pins:
    checkpoint_url: str
    checkpoint_sha256: Optional[str]
    # repo id -> (revision, {file name: sha256}); None: trusted on first use
    huggingface: dict[str, tuple[Optional[str], dict[str, Optional[str]]]]


def load_pins(path: Optional[Path] = None) -> Pins:
    raw = json.loads((path or PINS_FILE).read_text())
    return Pins(
        checkpoint_url=raw["checkpoint"]["url"],
        checkpoint_sha256=raw["checkpoint"]["sha256"],
        huggingface={repo: (entry["revision"], dict(entry["files"])) for repo, entry in raw["huggingface"].items()},
    )


def pin_problems(pins: Pins) -> list[str]:
    """Everything the repository does not pin, all at once."""
    problems = []
    if not is_sha256(pins.checkpoint_sha256):
        problems.append(f"checkpoint.sha256 ({pins.checkpoint_url})")
    for repo, (revision, files) in pins.huggingface.items():
        if not (revision and COMMIT.fullmatch(revision)):
            problems.append(f"huggingface[{repo}].revision (a 40-hex commit)")
        if not files:
            problems.append(f"huggingface[{repo}].files")
        problems.extend(f"huggingface[{repo}].files[{name}]" for name, sha in files.items() if not is_sha256(sha))
    return problems


def require_pinned(pins: Pins) -> None:
    problems = pin_problems(pins)
    if problems:
        raise PinError(
            f"MODEL_TRUST=strict and {len(problems)} model pin(s) missing in docker/openvoice/app/model_pins.json: "
            + ", ".join(problems)
            + ". Print the recorded lock (python -m app.models lock), review it, commit it as model_pins.json"
            " and rebuild the image, or run with MODEL_TRUST=first-use."
        )


def _held(known: Optional[dict], pinned: Optional[str], path: Path) -> bool:
    """The lock already vouches for this file and it is there whole: no need to read it again."""
    return bool(known) and pinned in (None, known["sha256"]) and path.is_file() and path.stat().st_size == known["size"]


def _publish(downloaded: Path, shared: Path) -> None:
    """Writes a verified download to EFS (no read from EFS), whole or not at all."""
    shared.parent.mkdir(parents=True, exist_ok=True)
    staged = shared.with_name(shared.name + ".part")
    with open(downloaded, "rb") as src, open(staged, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    os.replace(staged, shared)


def _fetch_repo(repo, revision_pin, files, recorded, shared_cache, local: "LocalCopy", hub: Hub, log: Log) -> dict:
    if revision_pin:
        revision = revision_pin
    elif recorded:
        revision = recorded["revision"]
    else:
        revision = hub.resolve(repo)
        log(f"{LOUD} TRUST ON FIRST USE: {repo} has no pinned revision; its default branch is {revision} now, recorded")
    known_files = recorded["files"] if recorded and recorded["revision"] == revision else {}
    out = {}
    for name, pinned in files.items():
        known = known_files.get(name)
        relative = cache_path(repo, revision, name)
        if _held(known, pinned, shared_cache / relative):
            out[name] = known
            continue
        expected = pinned or (known or {}).get("sha256")
        path = hub.download(repo, name, revision, local.cache)
        actual = sha256_of(path)
        if expected and actual != expected:
            blob = path.resolve()  # huggingface_hub's snapshot entry links to a blob: both go
            path.unlink()
            blob.unlink(missing_ok=True)
            raise ChecksumError(f"{repo}@{revision}/{name}: sha256 {actual} does not match the expected {expected}")
        if not expected:
            log(f"{LOUD} TRUST ON FIRST USE: {repo}@{revision}/{name} sha256 {actual} recorded in the lock")
        _publish(path, shared_cache / relative)
        local.mark_verified(relative, actual)
        out[name] = {"sha256": actual, "size": path.stat().st_size}
    return {"revision": revision, "files": out}


def _fetch_checkpoint(pins: Pins, recorded: Optional[dict], models_dir: Path, local_dir: Path, opener, log: Log) -> dict:
    url, pinned = pins.checkpoint_url, pins.checkpoint_sha256
    known = recorded if recorded and recorded["url"] == url else None
    if _held(known, pinned, models_dir / archive_name(url)):
        return known
    expected = pinned or (known or {}).get("sha256")
    options = {"opener": opener} if opener else {}
    actual = fetch_archive(local_dir, url, expected, log=log, **options)
    if not expected:
        log(f"{LOUD} TRUST ON FIRST USE: {url} sha256 {actual} recorded in the lock")
    _publish(local_dir / archive_name(url), models_dir / archive_name(url))
    return {"url": url, "sha256": actual, "size": (local_dir / archive_name(url)).stat().st_size}


def fetch_models(
    pins: Pins,
    models_dir: Path,
    local_dir: Path,
    hub: Hub,
    trust: str = TRUST_FIRST_USE,
    log: Log = print,
    opener=None,
) -> Lock:
    """Brings EFS's store up to the pins and the lock; returns the lock (written when it changed).
    Downloads land on this host's disk first, so the first host reads nothing back from EFS."""
    if trust == TRUST_STRICT:
        require_pinned(pins)
    models_dir.mkdir(parents=True, exist_ok=True)
    local = LocalCopy(local_dir)
    with (models_dir / "fetch.lock").open("w") as exclusive:
        fcntl.flock(exclusive, fcntl.LOCK_EX)  # burst hosts booting together fetch once
        recorded = read_lock(models_dir / LOCK_NAME)
        shared_cache = models_dir / "hf" / "hub"
        lock = {
            "checkpoint": _fetch_checkpoint(pins, recorded.get("checkpoint"), models_dir, local_dir, opener, log),
            "huggingface": {
                repo: _fetch_repo(
                    repo, revision, files, recorded.get("huggingface", {}).get(repo), shared_cache, local, hub, log
                )
                for repo, (revision, files) in pins.huggingface.items()
            },
        }
        if lock != recorded:
            write_json(models_dir / LOCK_NAME, lock)
            log(f"model lock written: {models_dir / LOCK_NAME} ({lock_digest(lock)[:12]})")
    return lock


def lock_as_pins(lock: Lock) -> dict:
    """The recorded lock in model_pins.json's shape: what a team reviews and commits to pin it."""
    return {
        "_comment": json.loads(PINS_FILE.read_text()).get("_comment", ""),
        "checkpoint": {"url": lock["checkpoint"]["url"], "sha256": lock["checkpoint"]["sha256"]},
        "huggingface": {
            repo: {"revision": entry["revision"], "files": {name: f["sha256"] for name, f in entry["files"].items()}}
            for repo, entry in lock["huggingface"].items()
        },
    }


USAGE = """usage: python -m app.models fetch | lock
  fetch  bring the models on EFS up to the pins and the lock, then the host's copy up to the lock
  lock   print the recorded lock as model_pins.json content (review it, commit it to pin it)"""


def main(argv: list[str]) -> int:
    from .settings import ModelSettings, SettingsError

    if argv[1:] not in (["fetch"], ["lock"]):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = ModelSettings.from_env()
    except SettingsError as error:
        print(f"models: {error}", file=sys.stderr)
        return 2
    if argv[1] == "lock":
        lock = read_lock(settings.models_dir / LOCK_NAME)
        if not lock:
            print(f"no lock recorded yet in {settings.models_dir / LOCK_NAME}: the models step has not run", file=sys.stderr)
            return 1
        print(json.dumps(lock_as_pins(lock), indent=2))
        return 0
    try:
        lock = fetch_models(load_pins(), settings.models_dir, settings.local_models_dir, HuggingFaceHub(), settings.trust)
        sync_local_copy(lock, settings.models_dir, settings.local_models_dir)
    except (PinError, ChecksumError) as error:
        print(f"model fetch refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
