"""Confidence intervals for benchmark metrics.

Per-sample metrics (IQA, Sync-D, ...) are averages over samples: their interval is Student's t
interval of the mean, as the paper reports IQA. Per-set metrics (FID, FVD, E-FID) are one number
for the whole set: their interval is a percentile bootstrap over samples (resample the samples
with replacement, recompute the metric).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
from scipy import stats as _st


class Estimate(NamedTuple):
    mean: float
    ci95_low: float
    ci95_high: float
    n: int


def t_interval(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean and two-sided Student's t interval; NaNs are dropped. One value gives a zero-width
    interval at that value (no spread can be estimated), none gives NaNs."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    m = float(x.mean())
    if n == 1:
        return Estimate(m, m, m, 1)
    half = float(_st.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Estimate(m, m - half, m + half, n)


def bootstrap_interval(samples: Sequence, statistic: Callable[[Sequence], float], n_boot: int = 200,
                       seed: int = 0, level: float = 0.95) -> Estimate:
    """The statistic on all samples, with a percentile bootstrap interval over samples.

    `samples` is indexable by an integer array (a numpy array of per-sample features, for
    instance); `statistic` maps such a subset to a number. The interval is widened, if needed, to
    contain the full-set value, since a biased statistic (FID is biased upward for small sets)
    can have its bootstrap distribution entirely on one side of it."""
    n = len(samples)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    full = float(statistic(samples))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = float(statistic(samples[idx] if isinstance(samples, np.ndarray) else [samples[i] for i in idx]))
        if np.isfinite(v):
            boots.append(v)
    if not boots:
        return Estimate(full, full, full, n)
    lo, hi = np.percentile(boots, [50 * (1 - level), 100 - 50 * (1 - level)])
    return Estimate(full, float(min(lo, full)), float(max(hi, full)), n)
