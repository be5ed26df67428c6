"""Training throughput (fada.train.throughput, step 3 of benchmarks/gpu_run.sh) on a CPU at the
smallest settings, for every kind it measures: kept in the default test run because the GPU script's
own test is not, and a broken step is found only on the lent GPU otherwise."""
import pytest
import torch

from fada.train.throughput import RECIPES, measure_training

torch.set_num_threads(1)


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_each_kind_trains_a_step_and_reports_consistent_rates(kind):
    row = measure_training(kind, batch_size=2, steps=1, warmup=0, device="cpu")
    assert row["kind"] == kind and row["recipe"] == RECIPES[kind] and row["batch_size"] == 2
    assert row["sec_per_step"] > 0
    assert row["steps_per_s"] == pytest.approx(1 / row["sec_per_step"])
    assert row["samples_per_s"] == pytest.approx(2 / row["sec_per_step"])
