"""benchmarks/gpu_run.sh end to end on a CPU at its smallest settings (the tiny config, one method,
two switches, one repeat, batch 4 training): every step runs, and each writes its files.

It runs the whole script (many minutes on a CPU), so it lives beside the script, outside the
default test path (`tests/`): run it with `python -m pytest benchmarks/`."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_run_script_on_cpu(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    res = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_run.sh"), "--out", str(out), "--device", "cpu",
                          "--config", "tiny", "--methods", "fada_fast", "--frames", "16", "--repeats", "1",
                          "--switches", "default,decoder-fast", "--train-batches", "4", "--train-modes", "eager",
                          "--train-steps", "1", "--budget-s", "1500"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    steps = {r["step"]: r for r in csv.DictReader((out / "steps.csv").open())}
    assert list(steps) == ["cuda-tests", "speed-default", "speed-decoder-fast", "train-throughput"]
    assert all(r["exit_status"] == "0" for r in steps.values()), steps
    assert "skipped" in (out / "cuda-tests.log").read_text()          # no CUDA here: the marker skips them
    (vae_file,) = out.glob("speed-tiny-cpu-fp32-default-*.csv")          # named with the CPU model
    (fast_file,) = out.glob("speed-tiny-cpu-fp32-decoder-fast-*.csv")
    assert vae_file.name.removeprefix("speed-tiny-cpu-fp32-default-") == fast_file.name.removeprefix(
        "speed-tiny-cpu-fp32-decoder-fast-")
    (vae,) = csv.DictReader(vae_file.open())
    (fast,) = csv.DictReader(fast_file.open())
    assert (vae["method"], vae["decoder"], fast["decoder"]) == ("fada_fast", "vae", "fast")
    train = list(csv.DictReader(next(out.glob("train-throughput-*.csv")).open()))
    assert {(r["kind"], r["batch_size"], r["compiled"]) for r in train} == {("teacher", "4", "False"),
                                                                            ("perflow", "4", "False")}
    assert all(float(r["steps_per_s"]) > 0 and float(r["samples_per_s"]) == pytest.approx(4 * float(r["steps_per_s"]))
               for r in train)
    assert all(p.stat().st_size <= 16 * 2 ** 20 for p in out.iterdir())
