"""The synthetic world's backbone weights: shipped in the package under fada_bench/weights/synthetic/,
listed with their sha256 in its registry.json, and checked against it before any loading.

`fada-bench weights train-synthetic` rebuilds them (fada_bench/train_synthetic_backbones.py) and
rewrites the registry.
"""
from __future__ import annotations

import json
from pathlib import Path

from fada.hashing import sha256_file

from .standard import WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "synthetic"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"
REBUILD_COMMAND = "fada-bench weights train-synthetic"


def registry(weights_dir: Path | None = None) -> dict:
    reg_file = Path(weights_dir or WEIGHTS_DIR) / REGISTRY_FILE.name
    if not reg_file.is_file():
        raise WeightsError(f"the synthetic backbones' registry {reg_file.name} is missing from "
                           f"{reg_file.parent}; rebuild the backbones with `{REBUILD_COMMAND}`")
    return json.loads(reg_file.read_text())


def weights_path(name: str, weights_dir: Path | None = None, *, check: bool = True) -> Path:
    """The verified path of backbone `name`'s weights. A missing file, or one whose sha256 differs
    from the registry's, is a `WeightsError` naming the file, where it looked and how to rebuild it."""
    folder = Path(weights_dir or WEIGHTS_DIR)
    reg = registry(folder)
    if name not in reg:
        raise WeightsError(f"{folder / REGISTRY_FILE.name} has no entry for the synthetic backbone {name!r} "
                           f"(it has {', '.join(sorted(reg)) or 'none'}); rebuild with "
                           f"`{REBUILD_COMMAND} --only {name}`")
    entry = reg[name]
    path = folder / entry["file"]
    rebuild = f"rebuild it with `{REBUILD_COMMAND} --only {name}` (or reinstall fada-bench)"
    if not path.is_file():
        raise WeightsError(f"synthetic backbone weights {entry['file']} not found: looked in {folder}; {rebuild}")
    if check:
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise WeightsError(f"synthetic backbone weights {path} are corrupt or stale: sha256 {digest}, "
                               f"{REGISTRY_FILE.name} expects {entry['sha256']}; {rebuild}")
    return path


def weights_available(name: str) -> tuple[bool, str]:
    try:
        weights_path(name)
    except WeightsError as e:
        return False, str(e)
    return True, ""
