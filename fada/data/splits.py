"""Seeded test splits: which clips of a prepared data folder a benchmark suite evaluates.

The paper evaluates on 100 random clips each of HDTF and CelebV-HQ (following EchoMimic). The
choice is recorded as a split file (the harness keeps them in its split folders), so every run and every machine uses the
same clips; it depends only on the manifest's clip ids and the seed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .manifest import read_manifest, write_split
from .prepare import DATASETS

SPLIT_DATASETS = (*DATASETS, "synthetic")


@dataclass(frozen=True)
class SplitResult:
    path: Path
    ids: list[str]
    n_requested: int
    n_available: int


def candidate_ids(df: pd.DataFrame, dataset: str) -> list[str]:
    """Sorted ids a test split may use: usable clips; in the synthetic world only its test split,
    whose identities no training clip shares."""
    usable = df[df["status"] == "ok"]
    if dataset == "synthetic":
        usable = usable[usable["split"] == "test"]
    return sorted(usable["id"].astype(str))


def choose_ids(ids: list[str], n: int, seed: int) -> list[str]:
    """n ids drawn without replacement by numpy's default_rng(seed) from the sorted ids (all of
    them when there are no more than n), returned sorted."""
    ids = sorted(ids)
    if n >= len(ids):
        return ids
    picked = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
    return sorted(ids[i] for i in picked)


def folder_dataset(data: Path) -> str | None:
    """The data set a folder was made for, from its world.json or prepare.json; None if unknown."""
    if (data / "world.json").is_file():
        return "synthetic"
    prepared = data / "prepare.json"
    if prepared.is_file():
        return json.loads(prepared.read_text()).get("dataset")
    return None


def make_test_split(dataset: str, data: str | os.PathLike, n: int, seed: int,
                    out: str | os.PathLike) -> SplitResult:
    """Choose the test clips of `dataset` from the folder `data` and write them to the file `out`."""
    if dataset not in SPLIT_DATASETS:
        raise InputError(f"unknown data set {dataset!r}; expected one of {', '.join(SPLIT_DATASETS)}")
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    data = Path(data)
    made_for = folder_dataset(data)
    if made_for is not None and made_for != dataset:
        raise InputError(f"{data} holds {made_for} data, not {dataset}")
    ids = candidate_ids(read_manifest(data), dataset)
    if not ids:
        raise InputError(f"{data} has no usable {dataset} clips (status ok"
                         + (", split test" if dataset == "synthetic" else "") + ")")
    chosen = choose_ids(ids, n, seed)
    path = Path(out)
    meta = {}
    if dataset == "synthetic" and (data / "world.json").is_file():
        # The world's settings travel with the split, so a suite can regenerate exactly these clips.
        meta["world"] = json.loads((data / "world.json").read_text())["config"]
    write_split(path, chosen, dataset=dataset, seed=seed, n_requested=n, n_available=len(ids), **meta)
    return SplitResult(path, chosen, n, len(ids))
