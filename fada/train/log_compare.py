"""Two training runs' logged losses compared step by step (`fada-bench train-cache compare`).

Runs trained from one teacher-target cache read the same standpoints, noise and teacher end points
(and, for CFG distillation, the same guidance scales) at the same step: common random numbers. A
loss both logs record at the same step, such as the distillation loss L_distill (Eq. 5), was
therefore measured on the same targets, and its ratio A / B at that step is a paired observation:
the batch-to-batch spread of the loss, far larger than what separates two rows, cancels.

Only steps that both runs read from the cache (`cached` = 1 in their records) are paired; the
trainer records the cache's key at each start (`target_cache`), and two logs that name different
keys are refused. The summary is the median of the ratios with its distribution-free 95% interval
(order statistics of the sign test, exact for any distribution of the ratios), and how many
steps A logged the larger value.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import InputError
from .log import KEPT_LOG, last_records, recipe_file


@dataclass(frozen=True)
class LogComparison:
    key: str
    steps: int              # steps paired
    first: int              # the first and last of them
    last: int
    median_ratio: float     # median over the paired steps of A / B
    low: float              # its 95% interval
    high: float
    above: int              # steps where A > B
    caveat: str = ""        # what the logs do not record

    def text(self, a: str, b: str) -> str:
        line = (f"{self.key}: median {a} / {b} = {self.median_ratio:.4g} [{self.low:.4g}, {self.high:.4g}] "
                f"over {self.steps} logged steps ({self.first}-{self.last}) read from the same cache; "
                f"{a} above at {self.above} of {self.steps}")
        return line + (f" ({self.caveat})" if self.caveat else "")


def median_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median of `x`: the order statistics x_(k) and x_(n+1-k),
    with k the largest rank such that P(Binomial(n, 1/2) < k) <= (1 - level) / 2 (the sign test's
    interval; it covers the median with probability at least `level`). The whole range where n is
    too small for any such k."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    ranks = np.arange(n // 2 + 1)
    k = int(ranks[stats.binom.cdf(ranks - 1, n, 0.5) <= (1 - level) / 2].max())
    if k < 1:
        return float(x[0]), float(x[-1])
    return float(x[k - 1]), float(x[n - k])


def _values(run: Path, key: str) -> tuple[dict[int, float], dict[int, bool], set[str], list[dict]]:
    records = last_records(run)
    if not records:
        raise InputError(f"{run}: no training log (log.jsonl, or a scored row's {KEPT_LOG}) with logged steps")
    values = {r["step"]: float(r[key]) for r in records if isinstance(r.get(key), (int, float))}
    if not values:
        numeric = sorted({k for r in records for k, v in r.items() if isinstance(v, (int, float)) and k != "step"})
        raise InputError(f"{run}: its log records no {key!r}; it has {', '.join(numeric)}")
    cached = {r["step"]: bool(r.get("cached")) for r in records}
    caches = {str(r["target_cache"]) for r in records if r.get("target_cache")}
    return values, cached, caches, records


def _targets_named(run: Path, records: list[dict]) -> dict | None:
    """What a teacher-target cache's key hashes, as far as the run's recipe.json and log tell it (the
    teacher's sha256, the data, seed and batch size, K, phi_steps, the guidance): for logs written
    before the trainer recorded the key. None without a recipe.json."""
    meta = recipe_file(run)
    if not meta.is_file():
        return None
    try:
        recipe = json.loads(meta.read_text())
        o = recipe.get("objective") or {}
    except (ValueError, AttributeError) as e:
        raise InputError(f"{meta}: not a recipe the trainer wrote ({e}); it cannot say which targets the run read") from e
    guided = o.get("cfg_mode", "none") != "none"
    teachers = {r["teacher_sha256"] for r in records if r.get("teacher_sha256")}
    return {"teacher": sorted(teachers), "data": recipe.get("data"), "seed": recipe.get("seed"),
            "batch size": (recipe.get("optim") or {}).get("batch_size"),
            "windows": o.get("num_windows"), "phi_steps": o.get("phi_steps"),
            "guidance": {k: o.get(k) for k in (("cfg_a_range", "cfg_r_range") if guided else ("p_drop_audio", "p_drop_both"))}}


def _same_targets(run_a: Path, run_b: Path, ka: set[str], kb: set[str], ra: list[dict], rb: list[dict]) -> str:
    """Refuse two runs that did not read one cache; the caveat where that rests on their recipes."""
    if len(ka) > 1 or len(kb) > 1 or (ka and kb and ka != kb):
        raise InputError(f"{run_a} and {run_b} read different teacher-target caches ({', '.join(sorted(ka | kb))}); "
                         "their losses were measured on different targets and are not paired")
    if ka and kb:
        return ""
    ta, tb = _targets_named(run_a, ra), _targets_named(run_b, rb)
    if ta is not None and tb is not None:
        differ = [k for k in ta if ta[k] != tb[k]]
        if differ:
            raise InputError(f"{run_a} and {run_b} distil from different teacher targets (they differ in "
                             f"{', '.join(differ)}), so no cache holds both; their losses are not paired")
    return ("the cache's key is not recorded in " + (f"{run_a} or {run_b}" if not ka and not kb else str(run_b if ka else run_a))
            + (": their recipes and teachers name the same targets" if ta is not None and tb is not None
               else ": the pairing assumes both read the same cache"))


def compare_logs(run_a: str | Path, run_b: str | Path, key: str = "L_distill",
                 first: int = 1, last: int | None = None) -> LogComparison:
    """`key` of two runs' logs (run folders or log.jsonl files) paired at each logged step in
    [first, last] that both read from the same teacher-target cache (module docstring)."""
    run_a, run_b = Path(run_a), Path(run_b)
    (va, ca, ka, ra), (vb, cb, kb, rb) = _values(run_a, key), _values(run_b, key)
    caveat = _same_targets(run_a, run_b, ka, kb, ra, rb)
    common = [s for s in sorted(set(va) & set(vb)) if s >= first and (last is None or s <= last)]
    if not common:
        raise InputError(f"{run_a} and {run_b} logged no step in common"
                         f" between {first} and {last if last is not None else 'the end'}")
    steps = [s for s in common if ca.get(s) and cb.get(s)]
    if not steps:
        raise InputError(f"{run_a} and {run_b} did not read their teacher targets from a cache at the same steps "
                         f"(of {len(common)} steps both logged); their losses are not paired")
    a, b = np.array([va[s] for s in steps]), np.array([vb[s] for s in steps])
    if (a <= 0).any() or (b <= 0).any() or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError(f"{key} must be positive and finite at every paired step to take ratios")
    ratio = a / b
    low, high = median_interval(ratio)
    return LogComparison(key, len(steps), steps[0], steps[-1], float(np.median(ratio)), low, high,
                         int((a > b).sum()), caveat)

