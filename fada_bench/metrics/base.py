"""The metric contract: torchmetrics states, a named backbone, per-sample or per-set.

A metric has two parts:
- `features(video, sample)`: what its backbone sees in one video (a 1-D vector for a per-sample
  metric's inputs, or rows of feature vectors: per frame, per 16-frame clip). The runner caches
  these by the video's content hash and the metric key, so a video is seen by a backbone once.
- `reference_features(video, sample)`: the same for the sample's ground truth (by default the
  backbone's view of its video; the synthetic world's paired metrics read its recorded truth).
- the statistic: `sample_value(gen, ref)` for a per-sample metric (Sync-D, IQA, CSIM: a mean over
  samples with a t interval), or `set_value(gen_rows, ref_rows)` for a per-set metric (FID, FVD,
  E-FID: one number for the set, with a bootstrap interval over samples).

`update()` / `compute()` follow torchmetrics: states are declared with `add_state` and reduce by
concatenation, so shards on several processes give the same result as one process.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torchmetrics import Metric

from fada.data.io import Video

from ..types import Sample
from .stats import Estimate, bootstrap_replicates, percentile_interval, t_interval


class BenchMetric(Metric):
    name: ClassVar[str]                 # e.g. "sync_d"
    backbone: ClassVar[str]             # e.g. "synthetic", "syncnet_v2", "inception"
    per_sample: ClassVar[bool]
    higher_is_better: ClassVar[bool]
    needs_reference: ClassVar[bool] = False   # per-sample metrics that compare with ground truth
    worlds: ClassVar[tuple[str, ...]] = ("synthetic", "real")   # where its backbone applies
    # Measures change across a long video (the first against the last 10 s): scored only where a
    # suite's default list or --metrics names it, never by default on short clips.
    long_video: ClassVar[bool] = False
    # False: a metric the paper does not report (ours, or its peers'); tables, the report and the
    # claims show it in a column group of its own, "beyond the paper".
    paper: ClassVar[bool] = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, n_boot: int = 200, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n_boot, self.seed = n_boot, seed
        self.replicates: np.ndarray | None = None     # the last compute()'s bootstrap replicates (per-set)
        if self.per_sample:
            self.add_state("values", default=[], dist_reduce_fx="cat")
        else:
            self.add_state("gen", default=[], dist_reduce_fx="cat")
            self.add_state("gen_owner", default=[], dist_reduce_fx="cat")
            self.add_state("ref", default=[], dist_reduce_fx="cat")
            self.add_state("ref_owner", default=[], dist_reduce_fx="cat")

    @classmethod
    def key(cls) -> str:
        return f"{cls.name}[{cls.backbone}]"

    # --------------------------------------------------------------- what subclasses provide
    def features(self, video: Video, sample: Sample) -> np.ndarray:
        raise NotImplementedError

    def reference_features(self, video: Video, sample: Sample) -> np.ndarray:
        """Features of the sample's ground truth: by default what the backbone sees in its video.
        A metric whose backbone has a recorded ground truth (the synthetic world's parameters and
        landmarks) returns the record instead, and says so with `reference_from_record`."""
        return self.features(video, sample)

    @property
    def reference_from_record(self) -> bool:
        return False

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        raise NotImplementedError

    def set_value(self, gen: np.ndarray, ref: np.ndarray) -> float:
        raise NotImplementedError

    # --------------------------------------------------------------- torchmetrics contract
    def update(self, gen: np.ndarray, ref: np.ndarray | None = None, sample_index: int = 0) -> None:
        """Add one sample: its generated video's features and, if the metric uses them, the
        ground truth's. `sample_index` ties the two together for the bootstrap."""
        if self.per_sample:
            v = self.sample_value(gen, ref)
            self.values.append(torch.tensor([v], dtype=torch.float64))
            return
        g = torch.as_tensor(np.atleast_2d(gen), dtype=torch.float64)
        self.gen.append(g)
        self.gen_owner.append(torch.full((g.shape[0],), sample_index, dtype=torch.long))
        if ref is not None:
            r = torch.as_tensor(np.atleast_2d(ref), dtype=torch.float64)
            self.ref.append(r)
            self.ref_owner.append(torch.full((r.shape[0],), sample_index, dtype=torch.long))

    def compute(self) -> Estimate:
        """Per-sample: the mean with its t interval. Per-set: the statistic on every sample with
        a percentile bootstrap interval over samples; its replicates stay in `self.replicates`
        (NaN where not finite), one per resample, for a paired comparison with another method
        scored on the same samples (`stats.paired_bootstrap_difference`)."""
        self.replicates = None
        if self.per_sample:
            vals = _cat(self.values)
            return t_interval(vals.numpy() if vals is not None else [])
        gen, go = _cat(self.gen), _cat(self.gen_owner)
        ref, ro = _cat(self.ref), _cat(self.ref_owner)
        if gen is None or ref is None:
            return t_interval([])
        gen, go, ref, ro = gen.numpy(), go.numpy(), ref.numpy(), ro.numpy()
        owners = np.unique(go)
        g_rows = {o: gen[go == o] for o in owners}
        r_rows = {o: ref[ro == o] for o in owners}

        def stat(subset: np.ndarray) -> float:
            g = np.concatenate([g_rows[o] for o in subset])
            r = np.concatenate([r_rows[o] for o in subset if o in r_rows and len(r_rows[o])])
            return self.set_value(g, r)

        self.replicates = bootstrap_replicates(owners, stat, n_boot=self.n_boot, seed=self.seed)
        return percentile_interval(float(stat(owners)), self.replicates, len(owners))


def _cat(state) -> torch.Tensor | None:
    if isinstance(state, torch.Tensor):
        return state
    return torch.cat(state) if len(state) else None
