"""The synthetic world's suites, regenerated on first use from the split file's world settings.

The split file (synthetic.json, or synthetic_long.json and synthetic_long_ci.json for the
long-video suites; shipped in fada_bench/data/splits) records the world's config; the clips are rendered
into a cache folder named by a hash of that config, so there is no preparation step and every
machine evaluates the same clips. Only the clips a run needs are rendered (every clip has its own
seed, so a clip rendered alone is byte for byte the clip a full render gives), and a clip already
in the cache is kept.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from fada.data.synthetic.build import WorldConfig, build_clips, plan
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
    split_file = "synthetic"   # <split_file>.json in the split folders (fada_bench/data/splits shipped)

    def __init__(self, data: Path | None = None):
        if data is not None:
            raise InputError(f"suite {self.name} is regenerated from its split file and takes no --data "
                             "(--data is for hdtf and celebvhq)")
        try:
            self.split_path, split = read_split_file(self.split_file)
        except FileNotFoundError as e:
            raise InputError(f"no {self.split_file} split file at {e.args[0]}; write one with "
                             "`fada-bench data synth --out data/synthetic && fada-bench data split synthetic`, "
                             f"or point FADA_BENCH_SPLITS at the folder that holds {self.split_file}.json") from None
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
        with _locked(self.folder):
            build_clips(self.folder, self.config, ids, workers=1)

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


@SUITES.register("synthetic_long")
class SyntheticLong(_SyntheticBase):
    """Ten 60 s clips of identities no other split shares (a world of its own seed), for drift
    over a minute of video (beyond the paper). Rendered on first use like `synthetic`, one clip at
    a time; an interrupted render resumes at the unfinished clip. Its split file records how it was
    made (`fada-bench data synth --seed 1 --seconds 60 --n-test 10 ...` and `fada-bench data split`).

    Its default metrics are the per-sample ones: the three drift metrics, identity similarity, lip
    sync and image quality. The per-set metrics (FID, FVD, E-FID) compare distributions of frames
    and 16-frame clips, which ten minute-long clips of ten people do not sample better than the
    100-clip `synthetic` suite does; name them with --metrics to score them anyway."""
    name = "synthetic_long"
    split_file = "synthetic_long"
    description = "ten 60 s clips of new identities for long-video drift (beyond the paper), rendered on first use"
    metrics = ("id_drift", "color_drift", "seam", "csim", "sync_d", "sync_c", "iqa")


@SUITES.register("synthetic_long_ci")
class SyntheticLongCI(SyntheticLong):
    """Three 20 s clips, the shortest video the drift metrics score (a first and a last 10 s), from a
    world of the same seed as `synthetic_long`: small enough for CI to check the drift metrics
    against a committed baseline (`results/baselines/synthetic_long_ci.json`) in about two
    minutes. Its figures are not the 60 s ones of `synthetic_long`: drift over 20 s is smaller."""
    name = "synthetic_long_ci"
    split_file = "synthetic_long_ci"
    description = "three 20 s clips: the drift metrics' CI check (the 60 s figures are synthetic_long's)"
