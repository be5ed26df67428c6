"""The committed drift baseline: the run it was made from, repeated now, must not drift.

Skipped until results/baselines/synthetic.json exists and the metrics it holds can run here (the
synthetic backbones' weights are present)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fada_bench.drift import check_run
from fada_bench.paths import REPO_ROOT
from fada_bench.registry import METRICS, metric_available

BASELINE = REPO_ROOT / "results" / "baselines" / "synthetic.json"


@pytest.mark.slow
def test_the_committed_baseline_reproduces(tmp_path):
    if not BASELINE.is_file():
        pytest.skip(f"no {BASELINE}")
    base = json.loads(BASELINE.read_text())
    made = base["made_from"]
    keys = {f"{e['metric']}[{e['backbone']}]" for e in base["metrics"]} & set(METRICS.names())
    missing = [k for k in keys if not metric_available(METRICS.get(k), "synthetic")[0]]
    if missing:
        pytest.skip(f"metric weights missing: {missing}")
    out = tmp_path / "run"
    args = [sys.executable, "-m", "fada_bench", "run", "--methods", ",".join(made["methods"]), "--suite",
            made["suite"], "--limit", str(made["n_samples"]), "--seed", str(made["seed"]), "--out", str(out)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    drifts, n = check_run(BASELINE, out)
    assert n > 0 and not drifts, "\n".join(map(str, drifts))
