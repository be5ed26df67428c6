"""Confidence intervals: checked against scipy and by simulated coverage."""
import numpy as np
import pytest
from scipy import stats

from fada_bench.metrics.stats import (bootstrap_interval, bootstrap_replicates, paired_bootstrap_difference,
                                      percentile_interval, t_interval)


def test_t_interval_matches_scipy():
    x = np.random.default_rng(0).normal(3.0, 2.0, 37)
    est = t_interval(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert est.mean == pytest.approx(x.mean())
    assert (est.ci95_low, est.ci95_high) == pytest.approx((lo, hi), rel=1e-12)
    assert est.n == 37


def test_t_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        x = rng.normal(5.0, 1.5, 30)
        e = t_interval(x)
        hits += e.ci95_low <= 5.0 <= e.ci95_high
    assert 0.90 <= hits / 200 <= 0.99


def test_t_interval_edge_cases():
    assert t_interval([]).n == 0 and np.isnan(t_interval([]).mean)
    one = t_interval([2.5])
    assert (one.mean, one.ci95_low, one.ci95_high, one.n) == (2.5, 2.5, 2.5, 1)
    assert t_interval([1.0, np.nan, 3.0]).n == 2


def test_bootstrap_interval_of_a_mean_agrees_with_the_t_interval():
    x = np.random.default_rng(2).normal(0.0, 1.0, 400)
    b = bootstrap_interval(x, np.mean, n_boot=400, seed=0)
    t = t_interval(x)
    assert b.mean == pytest.approx(t.mean)
    assert b.ci95_low == pytest.approx(t.ci95_low, abs=0.03)
    assert b.ci95_high == pytest.approx(t.ci95_high, abs=0.03)


def test_bootstrap_is_seeded_and_contains_the_full_set_value():
    x = np.random.default_rng(3).exponential(1.0, (50, 2))
    stat = lambda s: float(np.var(s[:, 0]) + 10.0)  # noqa: E731
    a, b = bootstrap_interval(x, stat, seed=7), bootstrap_interval(x, stat, seed=7)
    assert a == b
    assert a.ci95_low <= a.mean <= a.ci95_high
    assert bootstrap_interval(x, stat, seed=8) != a


def test_the_replicates_are_the_interval_s_resamples_and_a_failed_one_is_nan():
    x = np.random.default_rng(4).normal(0.0, 1.0, (30, 2))
    stat = lambda s: float(s[:, 0].mean()) if s[0, 1] > -1.5 else float("nan")  # noqa: E731
    reps = bootstrap_replicates(x, stat, n_boot=300, seed=5)
    rng = np.random.default_rng(5)
    for i in range(300):                          # resampled as drawn, one seeded generator in order
        s = x[rng.integers(0, 30, 30)]
        assert (np.isnan(reps[i]) and s[0, 1] <= -1.5) or reps[i] == stat(s)
    assert 0 < np.isnan(reps).sum() < 300
    assert bootstrap_interval(x, stat, n_boot=300, seed=5) == percentile_interval(stat(x), reps, 30)


def test_paired_replicates_give_the_percentile_interval_of_the_difference():
    """Two per-set values on the same clips: replicate i of both saw the same resample, so their
    difference's percentiles are the paired bootstrap interval, here against numpy's percentiles
    of a difference computed by hand."""
    rng = np.random.default_rng(6)
    hard = rng.exponential(1.0, 40)                      # a clip's difficulty moves both methods
    a, b = hard + 0.1 + rng.normal(0, 0.01, 40), hard + rng.normal(0, 0.01, 40)
    ra, rb = bootstrap_replicates(a, np.mean, 500, seed=0), bootstrap_replicates(b, np.mean, 500, seed=0)
    est = paired_bootstrap_difference(a.mean(), ra, b.mean(), rb, 40)
    idx = np.random.default_rng(0).integers(0, 40, (500, 40))   # rows: the same draws, in order
    lo, hi = np.percentile(a[idx].mean(1) - b[idx].mean(1), [2.5, 97.5])
    assert est == (pytest.approx(a.mean() - b.mean()), pytest.approx(lo), pytest.approx(hi), 40)
    assert 0 < est.ci95_low                               # paired: the shift is clear ...
    ia, ib = bootstrap_interval(a, np.mean, 500), bootstrap_interval(b, np.mean, 500)
    assert ia.ci95_low < ib.ci95_high                     # ... where the two intervals overlap
    with pytest.raises(ValueError, match="one for one"):
        paired_bootstrap_difference(1.0, ra, 0.0, rb[:10], 40)
