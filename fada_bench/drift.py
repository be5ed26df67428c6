"""Metric drift: a committed baseline of a run's summary, and the check of a new run against it.

Each metric's tolerance is stored in the baseline file, derived from its confidence interval:
half of the interval's half-width, and never below 0.1% of the mean. The run being checked uses
the same samples and seeds, so a faithful rerun lands far inside its sampling interval; the
tolerance covers floating-point differences between machines and library versions, and trips on
a change to a metric, a backbone or the data. Wall-clock and peak-memory rows are not baselined:
they measure the machine and the process (peak RSS counts whatever ran before), not the code.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from fada.data.io import write_text_atomic
from fada.errors import InputError

CI_FRACTION = 0.5       # of the CI half-width
REL_FLOOR = 1e-3        # of |mean|
ABS_FLOOR = 1e-9
NOT_BASELINED = ("wallclock", "memory")


def tolerance(mean: float, low: float, high: float) -> float:
    half = (high - low) / 2 if math.isfinite(high - low) else 0.0
    return max(CI_FRACTION * half, REL_FLOOR * abs(mean) if math.isfinite(mean) else 0.0, ABS_FLOOR)


def _read_summary(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    csv = run_dir / "summary.csv"
    if not csv.is_file():
        raise InputError(f"{run_dir} has no summary.csv: finish the run first (`fada-bench run ... --out {run_dir}`)")
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    return pd.read_csv(csv), info


def make_baseline(run_dir: str | Path, out: str | Path) -> dict:
    run_dir = Path(run_dir)
    s, info = _read_summary(run_dir)
    cfg = info.get("config", {})
    entries = []
    for r in s.itertuples(index=False):
        if r.backbone in NOT_BASELINED:
            continue
        mean = float(r.mean)
        entries.append({"method": r.method, "metric": r.metric, "backbone": r.backbone,
                        "mean": mean if math.isfinite(mean) else None,
                        "tolerance": tolerance(mean, float(r.ci95_low), float(r.ci95_high)),
                        "ci95_low": float(r.ci95_low) if math.isfinite(r.ci95_low) else None,
                        "ci95_high": float(r.ci95_high) if math.isfinite(r.ci95_high) else None,
                        "n": int(r.n)})
    baseline = {
        "format": 1,
        "rule": f"tolerance = max({CI_FRACTION} x CI half-width, {REL_FLOOR} x |mean|, {ABS_FLOOR})",
        "made_from": {"run": str(run_dir), "suite": cfg.get("suite"), "n_samples": cfg.get("n_samples"),
                      "limit": cfg.get("limit"), "seed": cfg.get("seed"), "methods": cfg.get("methods"),
                      "metrics": cfg.get("metrics"),
                      "commit": info.get("git", {}).get("commit"),
                      "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "metrics": entries}
    write_text_atomic(out, json.dumps(baseline, indent=1) + "\n")
    return baseline


@dataclass
class Drift:
    method: str
    metric: str
    backbone: str
    baseline: float | None
    value: float | None
    tolerance: float

    def __str__(self) -> str:
        name = f"{self.method} {self.metric}[{self.backbone}]"
        if self.value is None:
            return f"{name}: no value in the run (baseline {self.baseline:.6g})"
        if self.baseline is None:
            return f"{name}: {self.value:.6g}, the baseline has no value"
        d = self.value - self.baseline
        rel = f", {100 * d / abs(self.baseline):+.1f}%" if self.baseline else ""
        return (f"{name}: {self.value:.6g} against baseline {self.baseline:.6g} "
                f"({d:+.4g}{rel}; tolerance {self.tolerance:.3g})")


def read_baseline(path: str | Path) -> dict:
    path = Path(path)
    try:
        base = json.loads(path.read_text())
        base["metrics"]
    except FileNotFoundError:
        raise InputError(f"no baseline file {path}; write one with `fada-bench baseline RUN_DIR --out {path}`") from None
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a baseline file (written by `fada-bench baseline`)") from None
    return base


def rerun_config(baseline_file: str | Path, out: str | Path):
    """The run a baseline was made from (methods, suite, sample count, seed, metrics), into `out`:
    what CI repeats to check for drift."""
    from .runner import RunConfig

    made = read_baseline(baseline_file).get("made_from", {})
    if not made.get("methods") or not made.get("suite"):
        raise InputError(f"{baseline_file} does not say which run it was made from (made_from.methods, .suite)")
    return RunConfig(methods=list(made["methods"]), suite=made["suite"], out=Path(out),
                     limit=made.get("n_samples"), seed=int(made.get("seed") or 0), metrics=made.get("metrics"))


def check_run(baseline_file: str | Path, run_dir: str | Path) -> tuple[list[Drift], int]:
    """The drifted metrics and the number of metrics compared."""
    base = read_baseline(baseline_file)
    entries = base["metrics"]
    s, info = _read_summary(Path(run_dir))
    cfg, made = info.get("config", {}), base.get("made_from", {})
    # Another suite or sample count would show as drift in every metric; say what differs instead.
    for what, flag in (("suite", "--suite"), ("n_samples", "--limit"), ("seed", "--seed")):
        if cfg.get(what) is not None and made.get(what) is not None and cfg[what] != made[what]:
            raise InputError(f"the baseline was made with {what} {made[what]}, the run has {cfg[what]}: "
                             f"rerun with {flag} {made[what]} to compare them")
    values = {(r.method, r.metric, r.backbone): float(r.mean) for r in s.itertuples(index=False)}
    drifts = []
    entries = [e for e in entries if e["backbone"] not in NOT_BASELINED]
    for e in entries:
        k = (e["method"], e["metric"], e["backbone"])
        want, tol = e["mean"], float(e["tolerance"])
        got = values.get(k)
        got = None if got is None or not math.isfinite(got) else got
        if want is None and got is None:
            continue
        if want is None or got is None or abs(got - want) > tol:
            drifts.append(Drift(*k, want, got, tol))
    return drifts, len(entries)
