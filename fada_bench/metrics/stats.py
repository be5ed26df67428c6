"""Confidence intervals for benchmark metrics.

Per-sample metrics (IQA, Sync-D, ...) are averages over samples: their interval is Student's t
interval of the mean, as the paper reports IQA. Per-set metrics (FID, FVD, E-FID) are one number
for the whole set: their interval is a percentile bootstrap over samples (resample the samples
with replacement, recompute the metric). Two methods scored on the same clips with one seed are
resampled at the same positions, so the difference of their replicates gives a paired interval
for the difference of a per-set metric (`paired_bootstrap_difference`).
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


def bootstrap_replicates(samples: Sequence, statistic: Callable[[Sequence], float], n_boot: int = 200,
                         seed: int = 0) -> np.ndarray:
    """The statistic on `n_boot` resamples of `samples` (with replacement), NaN where it is not
    finite. The resampled positions depend on len(samples), n_boot and seed alone, so two sets
    of equal size resampled with one seed are resampled at the same positions: replicate i of
    one is paired with replicate i of the other (`paired_bootstrap_difference`)."""
    n = len(samples)
    rng = np.random.default_rng(seed)
    out = np.full(n_boot, np.nan)
    for i in range(n_boot):
        idx = rng.integers(0, n, n)
        v = float(statistic(samples[idx] if isinstance(samples, np.ndarray) else [samples[j] for j in idx]))
        out[i] = v if np.isfinite(v) else np.nan
    return out


def percentile_interval(full: float, replicates: np.ndarray, n: int, level: float = 0.95) -> Estimate:
    """`full` with the percentile interval of its finite bootstrap replicates, widened, if needed,
    to contain `full`: a biased statistic (FID is biased upward for small sets) can have its
    bootstrap distribution entirely on one side of it. No finite replicate: a zero-width interval."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return Estimate(full, full, full, n)
    lo, hi = np.percentile(r, [50 * (1 - level), 100 - 50 * (1 - level)])
    return Estimate(full, float(min(lo, full)), float(max(hi, full)), n)


def bootstrap_interval(samples: Sequence, statistic: Callable[[Sequence], float], n_boot: int = 200,
                       seed: int = 0, level: float = 0.95) -> Estimate:
    """The statistic on all samples, with a percentile bootstrap interval over samples.

    `samples` is indexable by an integer array (a numpy array of per-sample features, for
    instance); `statistic` maps such a subset to a number."""
    n = len(samples)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    return percentile_interval(float(statistic(samples)), bootstrap_replicates(samples, statistic, n_boot, seed), n, level)


def paired_bootstrap_difference(a_full: float, a_replicates: np.ndarray, b_full: float, b_replicates: np.ndarray,
                                n: int, level: float = 0.95) -> Estimate:
    """A - B for a per-set statistic of two sets scored on the same n clips and resampled at the
    same positions (`bootstrap_replicates` with one seed): the full-set difference with the
    percentile interval of the replicates' differences, where both are finite. The clips' own
    difficulty moves both sides of a replicate alike, so this interval is narrower than the two
    sets' intervals side by side wherever the clips, not the methods, set the spread."""
    a, b = np.asarray(a_replicates, dtype=np.float64), np.asarray(b_replicates, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired replicates must match one for one: {a.shape} against {b.shape}")
    return percentile_interval(a_full - b_full, a - b, n, level)
