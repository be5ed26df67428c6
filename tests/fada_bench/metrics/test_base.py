"""The metric contract: per-sample t intervals, per-set bootstrap, states that merge across shards."""
import numpy as np
import pytest

from fada_bench.metrics.base import BenchMetric
from fada_bench.metrics.stats import t_interval


class MeanGap(BenchMetric):
    """Per-set toy: distance between the means of generated and reference rows."""
    name, backbone, per_sample, higher_is_better = "mean_gap", "toy", False, False

    def set_value(self, gen, ref):
        return float(np.linalg.norm(gen.mean(0) - ref.mean(0)))


class Value(BenchMetric):
    name, backbone, per_sample, higher_is_better = "value", "toy", True, True

    def sample_value(self, gen, ref):
        return float(gen[0])


def fill(metric, idx, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    data = [(rng.normal(1.0, 1.0, (5, 3)), rng.normal(0.0, 1.0, (5, 3))) for _ in range(10)]
    for i in idx:
        metric.update(data[i][0], data[i][1], sample_index=i)
    return data


def test_key_names_the_backbone():
    assert MeanGap.key() == "mean_gap[toy]"


def test_per_sample_metric_gives_the_t_interval():
    m = Value()
    vals = np.random.default_rng(1).normal(3, 1, 20)
    for i, v in enumerate(vals):
        m.update(np.array([v]), sample_index=i)
    assert m.compute() == t_interval(vals)


def test_per_set_metric_uses_all_rows_and_brackets_it():
    m = MeanGap(n_boot=100)
    data = fill(m, range(10))
    est = m.compute()
    g = np.concatenate([d[0] for d in data])
    r = np.concatenate([d[1] for d in data])
    assert est.mean == pytest.approx(np.linalg.norm(g.mean(0) - r.mean(0)))
    assert est.ci95_low <= est.mean <= est.ci95_high and est.n == 10


def test_two_shards_merge_to_the_single_process_result():
    whole = MeanGap(n_boot=50)
    fill(whole, range(10))
    a, b = MeanGap(n_boot=50), MeanGap(n_boot=50)
    fill(a, range(5))
    fill(b, range(5, 10))
    a.merge_state(b)
    assert a.compute() == whole.compute()
