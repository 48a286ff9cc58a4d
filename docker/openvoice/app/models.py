"""Every model file the service loads, pinned in the repository (app/model_pins.json) and verified.

`python -m app.models fetch` runs once per boot before the service (compose's one-shot `models`
service, the only one with network access to model hosts): it downloads what is missing into the
cache on EFS, each Hugging Face file at its pinned commit, and checks every sha256. The service
itself runs with HF_HUB_OFFLINE=1 and calls `verify_models` at start: it hashes every file again
(the cache lives on a file system other hosts can write) and loads nothing that does not match.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .checkpoints import ChecksumError, PinError, ensure_checkpoints, is_sha256, sha256_of

PINS_FILE = Path(__file__).with_name("model_pins.json")
COMMIT = re.compile(r"[0-9a-f]{40}")

# hf_hub_download(repo_id=, filename=, revision=, cache_dir=) -> local path
Downloader = Callable[..., str]


@dataclass(frozen=True)
class Pins:
    checkpoint_url: str
    checkpoint_sha256: Optional[str]
    # repo id -> (revision, {file name: sha256})
    huggingface: dict[str, tuple[Optional[str], dict[str, Optional[str]]]]


def load_pins(path: Path = PINS_FILE) -> Pins:
    raw = json.loads(path.read_text())
    return Pins(
        checkpoint_url=raw["checkpoint"]["url"],
        checkpoint_sha256=raw["checkpoint"]["sha256"],
        huggingface={repo: (entry["revision"], dict(entry["files"])) for repo, entry in raw["huggingface"].items()},
    )


def pin_problems(pins: Pins) -> list[str]:
    """Everything that is not pinned, all at once (one fix for all of them, not one per start)."""
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
            f"{len(problems)} model pin(s) missing in docker/openvoice/app/model_pins.json: "
            + ", ".join(problems)
            + ". Nothing is fetched or loaded unpinned; review each value and rebuild the image."
        )


def snapshot_dir(cache_dir: Path, repo: str, revision: str) -> Path:
    """Where huggingface_hub keeps a repository's files at a commit."""
    return cache_dir / f"models--{repo.replace('/', '--')}" / "snapshots" / revision


def _point_main_at(cache_dir: Path, repo: str, revision: str) -> None:
    # MeloTTS and transformers ask for the default branch; offline, huggingface_hub resolves it
    # through refs/main, so main names the pinned commit and nothing else.
    refs = cache_dir / f"models--{repo.replace('/', '--')}" / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(revision)


def fetch_models(
    pins: Pins,
    models_dir: Path,
    cache_dir: Path,
    download: Downloader,
    log: Callable[[str], None] = print,
    **checkpoint_options,
) -> None:
    require_pinned(pins)
    ensure_checkpoints(models_dir, pins.checkpoint_url, pins.checkpoint_sha256, log=log, **checkpoint_options)
    for repo, (revision, files) in pins.huggingface.items():
        for name, expected in files.items():
            local = snapshot_dir(cache_dir, repo, revision) / name
            if local.exists() and sha256_of(local) == expected:
                continue
            path = Path(download(repo_id=repo, filename=name, revision=revision, cache_dir=str(cache_dir)))
            actual = sha256_of(path)
            if actual != expected:
                path.unlink()
                raise ChecksumError(f"{repo}@{revision}/{name}: sha256 {actual} does not match the pinned {expected}")
        _point_main_at(cache_dir, repo, revision)
        log(f"{repo}@{revision}: {len(files)} file(s) verified")


def verify_models(pins: Pins, models_dir: Path, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    """At service start, offline: every pinned file is present and matches; returns the checkpoints."""
    require_pinned(pins)
    checkpoints = ensure_checkpoints(
        models_dir, pins.checkpoint_url, pins.checkpoint_sha256, opener=_no_network, log=log
    )
    for repo, (revision, files) in pins.huggingface.items():
        ref = cache_dir / f"models--{repo.replace('/', '--')}" / "refs" / "main"
        if not ref.is_file() or ref.read_text().strip() != revision:
            raise ChecksumError(f"{repo}: the cache's main does not name the pinned commit {revision}; run the fetch")
        for name, expected in files.items():
            local = snapshot_dir(cache_dir, repo, revision) / name
            if not local.is_file():
                raise ChecksumError(f"{repo}@{revision}/{name} is not in the model cache; run the fetch")
            actual = sha256_of(local)
            if actual != expected:
                raise ChecksumError(f"{repo}@{revision}/{name}: sha256 {actual} does not match the pinned {expected}")
    log(f"all {sum(len(f) for _, f in pins.huggingface.values())} pinned model files verified")
    return checkpoints


def _no_network(*_args, **_kwargs):
    raise ChecksumError("the checkpoint archive is not in the model cache; the fetch step must run first")


def main(argv: list[str]) -> int:
    from .settings import Settings

    if argv[1:] != ["fetch"]:
        print("usage: python -m app.models fetch", file=sys.stderr)
        return 2
    shared = Settings(shared_dir=Path(__import__("os").environ.get("SHARED_DIR", "/mnt/shared")))
    try:
        from huggingface_hub import hf_hub_download

        fetch_models(load_pins(), shared.models_dir, shared.hf_cache_dir, hf_hub_download)
    except (PinError, ChecksumError) as error:
        print(f"model fetch refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
