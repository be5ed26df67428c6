"""Where the harness looks for its files, and the environment variables that add or move each place.

| what                | where                                             | override                        |
|---------------------|---------------------------------------------------|---------------------------------|
| method cards        | the package's (fada_bench/data/methods)           | + FADA_BENCH_METHODS (folders)  |
| split files         | FADA_BENCH_SPLITS, else data/splits (current folder), then the package's (fada_bench/data/splits) | FADA_BENCH_SPLITS (a folder) |
| regenerated worlds  | ~/.cache/fada-bench                               | FADA_BENCH_CACHE                |
| prepared data       | data/NAME (current folder)                        | --data, FADA_BENCH_DATA/NAME    |
| baseline videos     | data/baselines/NAME (current folder)              | --method-folder, FADA_BENCH_BASELINES/NAME |
| checkpoints         | runs (current folder; where `fada-bench train` writes) | FADA_BENCH_CHECKPOINTS     |

The package's own files (cards, splits, shipped weights) are read through `importlib.resources`,
so an installed wheel finds them as a checkout does. `fada-bench data split` writes a user's split
files to the first split folder (FADA_BENCH_SPLITS, else data/splits), where they take precedence
over the package's.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# The checkout the package runs from, when it is one (run.json records its git commit).
REPO_ROOT = Path(__file__).resolve().parents[1]


def package_data(*parts: str) -> Path:
    """A folder or file shipped inside the package (fada_bench/data/...)."""
    # A wheel installs as files, so the resource is a real path (include: and glob need one).
    return Path(str(resources.files("fada_bench").joinpath("data", *parts)))


def _env_dirs(var: str) -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(var, "").split(os.pathsep) if p.strip()]


def methods_dirs() -> list[Path]:
    return [package_data("methods"), *_env_dirs("FADA_BENCH_METHODS")]


def user_splits_dir() -> Path:
    """Where `fada-bench data split` writes: FADA_BENCH_SPLITS, else data/splits."""
    env = os.environ.get("FADA_BENCH_SPLITS")
    return Path(env).expanduser() if env else Path("data") / "splits"


def split_candidates(name: str) -> list[Path]:
    """Where the split file of suite `name` may be, first match wins: the user's, then the package's."""
    return [user_splits_dir() / f"{name}.json", package_data("splits", f"{name}.json")]


def find_split(name: str) -> Path:
    """The split file of suite `name`; FileNotFoundError naming the places looked at."""
    places = split_candidates(name)
    for p in places:
        if p.is_file():
            return p
    raise FileNotFoundError(" or ".join(str(p) for p in places))


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
    return Path(env).expanduser() if env else Path("runs")
