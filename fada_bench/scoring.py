"""Scoring one video with the run's metrics, through the feature cache.

A backbone sees each video once: features are stored by (metric key, sha256 of the mp4 bytes), so
a resumed run, a second method with the same ground truth, or a metric added to a finished run
computes only what is missing. Metrics always score the mp4 as written (decoded from disk, never
the generator's in-memory frames), so a resumed run scores exactly what an uninterrupted one does.
"""
from __future__ import annotations

import inspect
import time
from functools import cached_property
from pathlib import Path

import numpy as np

from fada.data.io import Video, read_video
from fada.errors import InputError
from fada.hashing import sha256_file

from .metrics.base import BenchMetric
from .store import RunStore, StorageError
from .types import Sample


def make_metric(cls: type[BenchMetric], seed: int, world: str, device: str) -> BenchMetric:
    """An instance of a metric; `world` and `device` are passed to metrics that take them."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in (("world", world), ("device", device)) if k in params}
    # Shards meet on disk (records and cached features), and process 0 alone computes the
    # summary: a torchmetrics sync there would wait forever for processes that have finished.
    return cls(seed=seed, sync_on_compute=False, **kwargs)


def error_text(e: BaseException) -> str:
    # An InputError's message is written for users already; anything else is a bug, named by type.
    return str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}"


class VideoFiles:
    """One sample and its generated and ground-truth videos, each loaded at most once and only
    when a feature is not cached."""

    def __init__(self, load_sample, gen_path: Path | None, gt_sha: str | None = None):
        self._load_sample, self.gen_path = load_sample, gen_path
        if gt_sha is not None:
            self.__dict__["gt_sha"] = gt_sha

    @cached_property
    def sample(self) -> Sample:
        return self._load_sample()

    @cached_property
    def gen(self) -> Video:
        return read_video(self.gen_path, fps=self.sample.fps)

    @cached_property
    def gt(self) -> Video:
        return self.sample.ground_truth()

    @cached_property
    def gt_sha(self) -> str:
        return sha256_file(self.sample.video_path)


class Scorer:
    def __init__(self, store: RunStore, metrics: dict[str, BenchMetric]):
        self.store, self.metrics = store, metrics

    def features(self, key: str, files: VideoFiles, which: str, sha: str) -> np.ndarray:
        """Features of the generated (`which` = "gen") or ground-truth ("gt") video."""
        m = self.metrics[key]
        # A recorded ground truth is not what the backbone sees in a video: it is cached apart, so
        # a generated video with the ground truth's exact bytes still gets the backbone's view.
        cache_key = f"{key}@record" if which == "gt" and m.reference_from_record else key
        cached = self.store.load_features(cache_key, sha)
        if cached is not None:
            return cached
        if which == "gen":
            feats = m.features(files.gen, files.sample)
        else:
            feats = m.reference_features(files.gt, files.sample)
        return self.store.save_features(cache_key, sha, feats)

    def uses_ground_truth(self, key: str) -> bool:
        m = self.metrics[key]
        return (not m.per_sample) or m.needs_reference

    def score(self, key: str, files: VideoFiles, gen_sha: str) -> dict:
        """{"value", "error", "seconds"} for one metric on one sample. A per-set metric's value
        is None here: its features are cached and the set's value is computed at summary time."""
        m, t0 = self.metrics[key], time.perf_counter()
        try:
            g = self.features(key, files, "gen", gen_sha)
            r = self.features(key, files, "gt", files.gt_sha) if self.uses_ground_truth(key) else None
            value = float(m.sample_value(g, r)) if m.per_sample else None
            out = {"value": value, "error": None}
        except StorageError:
            raise
        except Exception as e:   # a metric that fails on one sample fails that sample only
            out = {"value": None, "error": error_text(e)}
        out["seconds"] = time.perf_counter() - t0
        return out
