"""The synthetic world's suites, regenerated on first use from the split file's world settings.

The split file (synthetic.json, shipped in fada_bench/data/splits) records the world's config; the clips are rendered
into a cache folder named by a hash of that config, so there is no preparation step and every
machine evaluates the same clips. Only the clips a run needs are rendered (every clip has its own
seed, so rendering a prefix of the test set gives the same clips as rendering all of it).
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from fada.data.synthetic.build import WorldConfig, build_world, plan
from fada.errors import InputError

from ..paths import cache_dir
from ..registry import SUITES
from ..types import Sample
from . import Suite, load_sample, read_split_file

CACHE_VERSION = 2   # 2: x264 without macroblock-tree rate control (deterministic bytes)


@contextmanager
def _locked(folder: Path):
    """One process renders a world folder at a time (several ranks of one run share it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _SyntheticBase(Suite):
    world = "synthetic"
    split = "test"       # which part of the world the suite evaluates

    def __init__(self, data: Path | None = None):
        if data is not None:
            raise InputError(f"suite {self.name} is regenerated from its split file and takes no --data "
                             "(--data is for hdtf and celebvhq)")
        try:
            self.split_path, split = read_split_file("synthetic")
        except FileNotFoundError as e:
            raise InputError(f"no synthetic split file at {e.args[0]}; write one with "
                             "`fada-bench data synth --out data/synthetic && fada-bench data split synthetic`, "
                             "or point FADA_BENCH_SPLITS at the folder that holds synthetic.json") from None
        world = split.get("world")
        fields = {f.name for f in dataclasses.fields(WorldConfig)}
        if not isinstance(world, dict) or set(world) - fields:
            raise InputError(f"{self.split_path}: field 'world' must hold the synthetic world's settings "
                             f"({', '.join(sorted(fields))})")
        self.config = WorldConfig(**{**world, "n_train": 0})
        # The cache version changes when the rendered bytes would (the encoder's settings), so a
        # cache never mixes clips encoded two ways.
        key = json.dumps({**dataclasses.asdict(self.config), "cache_version": CACHE_VERSION}, sort_keys=True)
        self.folder = cache_dir() / "synthetic" / hashlib.sha256(key.encode()).hexdigest()[:12]
        order = [s.id for s in plan(self.config) if s.split == self.split]
        self._index = {sid: i for i, sid in enumerate(order)}
        self._ids = self._select(split, order)
        unknown = [i for i in self._ids if i not in self._index]
        if unknown:
            raise InputError(f"{self.split_path}: ids {unknown[:3]} are not {self.split} clips of the recorded world")

    def _select(self, split: dict, order: list[str]) -> list[str]:
        return list(split["ids"])

    def ids(self) -> list[str]:
        return list(self._ids)

    def prepare(self, ids: list[str]) -> None:
        if not ids:
            return
        n = max(self._index[i] for i in ids) + 1
        counts = {"n_test": n if self.split == "test" else 0, "n_openset": n if self.split == "openset" else 0}
        with _locked(self.folder):
            build_world(self.folder, dataclasses.replace(self.config, **counts), workers=1)

    def sample(self, sample_id: str) -> Sample:
        n_frames = int(round(self.config.seconds * self.config.fps))
        return load_sample(sample_id, self.folder / "videos" / f"{sample_id}.mp4", n_frames, self.config.fps,
                           self.folder / "params" / f"{sample_id}.npz", {"split": self.split})

    def info(self) -> dict:
        return {**super().info(), "split_file": str(self.split_path),
                "world_config": dataclasses.asdict(self.config), "cache": str(self.folder)}


@SUITES.register("synthetic")
class Synthetic(_SyntheticBase):
    name = "synthetic"
    description = "synthetic test split (unseen identities), rendered on first use"


@SUITES.register("synthetic_openset", "openset")
class SyntheticOpenset(_SyntheticBase):
    name = "synthetic_openset"
    split = "openset"
    description = "the synthetic world's open-set clips (out-of-distribution styles)"

    def _select(self, split: dict, order: list[str]) -> list[str]:
        return order    # every open-set clip of the recorded world
