"""Where the harness looks for its files, and the environment variables that move each place.

| what                | default                                  | override                       |
|---------------------|------------------------------------------|--------------------------------|
| method cards        | REPO/methods                             | + FADA_BENCH_METHODS (folders) |
| split files         | REPO/results/splits                      | FADA_BENCH_SPLITS (a folder)   |
| regenerated worlds  | ~/.cache/fada-bench                      | FADA_BENCH_CACHE               |
| prepared data       | data/NAME (current folder)               | --data, FADA_BENCH_DATA/NAME   |
| baseline videos     | data/baselines/NAME (current folder)     | --method-folder, FADA_BENCH_BASELINES/NAME |
| checkpoints         | REPO/runs (where `fada-bench train` writes) | FADA_BENCH_CHECKPOINTS      |

REPO is the checkout the package was installed from (`pip install -e .`).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_dirs(var: str) -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(var, "").split(os.pathsep) if p.strip()]


def methods_dirs() -> list[Path]:
    return [REPO_ROOT / "methods", *_env_dirs("FADA_BENCH_METHODS")]


def splits_dir() -> Path:
    env = os.environ.get("FADA_BENCH_SPLITS")
    return Path(env).expanduser() if env else REPO_ROOT / "results" / "splits"


def cache_dir() -> Path:
    env = os.environ.get("FADA_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fada-bench"


def data_candidates(name: str) -> list[tuple[Path, str]]:
    """Where a prepared data set may be, each with how that place was chosen."""
    out = []
    if os.environ.get("FADA_BENCH_DATA"):
        out.append((Path(os.environ["FADA_BENCH_DATA"]).expanduser() / name, "$FADA_BENCH_DATA"))
    out.append((Path("data") / name, "default"))
    return out


def baselines_dir(name: str) -> Path:
    env = os.environ.get("FADA_BENCH_BASELINES")
    return (Path(env).expanduser() if env else Path("data") / "baselines") / name


def checkpoints_dir() -> Path:
    env = os.environ.get("FADA_BENCH_CHECKPOINTS")
    return Path(env).expanduser() if env else REPO_ROOT / "runs"
