"""Two scored rows side by side (`fada-bench rows compare A B`): each metric's means, their
relative difference and, for a per-sample metric, the paired difference over the clips both rows
scored, with its 95% interval.

Every row of a suite is scored on the same clips with the same seed, so a per-sample metric's
difference can be taken clip by clip: the paired Student's t interval of the mean difference
(the interval of `ttest_rel`). It is narrower than the two rows' own intervals side by side
wherever the clips' difficulty moves both rows alike, which is what tells a retrained or rescored
checkpoint apart from its predecessor, or a student from its teacher, on a small effect. The
per-set metrics (FID, FVD, E-FID) are one number for the whole set; their bootstrap resampled the
clips at positions fixed by the seed and the number of clips, so where both rows kept their
replicates (`bootstrap.csv`) and resampled the same clips, replicate i of A and replicate i of B
saw the same resample, and the percentile interval of their differences is the paired bootstrap
interval of A - B. A row saved without replicates (before they were kept) gives its means and
intervals only.

CLAIMS.md shows each claim's pairs paired these ways (`claims/rules.py`, `paired_lines` and
`paired_set_lines`) but never counts them: the verdict rules compare the rows' own intervals and were fixed before our numbers
existed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fada.errors import InputError

from .metrics.stats import Estimate, paired_bootstrap_difference, t_interval
from .rows import Row, check_combinable, read_row, row_paths, save_rows
from .store import REPLICATES
from .summary import COST_BACKBONES, MEMORY, WALLCLOCK, higher_is_better

# What measures the machine: comparable only between rows scored in one run on one machine.
MACHINE = (WALLCLOCK, MEMORY)
COLUMNS = ("metric", "backbone", "a_mean", "a_ci95_low", "a_ci95_high", "b_mean", "b_ci95_low", "b_ci95_high",
           "rel_diff", "n_paired", "diff_mean", "diff_ci95_low", "diff_ci95_high", "verdict")


def find_row(spec: str | Path, rows_folder: str | Path, scratch: str | Path | None = None) -> Row:
    """A row folder given as a path (holding identity.json); a method of a finished run folder
    given as RUN_DIR/METHOD, saved as a row under `scratch` first (so it carries the identity a
    kept row would, and is checked the same way); else a method name in `rows_folder`."""
    path = Path(spec)
    if (path / "identity.json").is_file():
        return read_row(path)
    if (path.parent / "run.json").is_file() and scratch is not None:
        (row,) = save_rows(path.parent, Path(scratch) / path.parent.name, [path.name], command="(compared, not kept)")
        return read_row(row)
    names = {p.name: p for p in row_paths(rows_folder)}
    if str(spec) not in names:
        raise InputError(f"no scored row {spec!r}: not a row folder or RUN_DIR/METHOD, and {rows_folder} has no row of that name "
                         f"(it has {', '.join(sorted(names))})")
    return read_row(names[str(spec)])


def _samples(row: Row) -> pd.DataFrame:
    p = row.path / "samples.csv"
    s = pd.read_csv(p)
    if "sample" not in s.columns:
        raise InputError(f"{p}: no `sample` column, so its values cannot be paired by clip")
    if s["sample"].duplicated().any():
        raise InputError(f"{p}: a clip appears twice ({s.loc[s['sample'].duplicated(), 'sample'].iloc[0]})")
    return s.set_index("sample")


def _replicates(row: Row) -> dict[tuple[str, str], tuple[str, np.ndarray]]:
    """{(metric, backbone): (fingerprint of the clips resampled, replicates in order)}; {} for a
    row saved without them."""
    p = row.path / REPLICATES
    return _replicate_groups(pd.read_csv(p), p) if p.is_file() else {}


def _replicate_groups(r: pd.DataFrame, where: Path) -> dict[tuple[str, str], tuple[str, np.ndarray]]:
    out = {}
    for (metric, backbone), g in r.groupby(["metric", "backbone"], sort=False):
        if g["samples"].nunique() != 1 or not g["replicate"].is_unique:
            raise InputError(f"{where}: {metric}[{backbone}] mixes resamples (several clip sets, or a replicate twice)")
        g = g.sort_values("replicate")
        out[(str(metric), str(backbone))] = (str(g["samples"].iloc[0]), g["value"].to_numpy(dtype=np.float64))
    return out


def paired_set_difference(a_mean: float, a_reps, b_mean: float, b_reps, n: int) -> Estimate | None:
    """A - B of a per-set metric, paired replicate by replicate (`paired_bootstrap_difference`);
    None unless both resampled the same clips (equal fingerprints) the same number of times."""
    if a_reps is None or b_reps is None or a_reps[0] != b_reps[0] or len(a_reps[1]) != len(b_reps[1]):
        return None
    return paired_bootstrap_difference(a_mean, a_reps[1], b_mean, b_reps[1], n)


def paired_difference(a: pd.Series, b: pd.Series) -> Estimate:
    """The mean of A - B over the clips (the index) both have a finite value for, with its 95%
    Student's t interval: the paired t-test's interval."""
    pair = pd.concat([pd.to_numeric(a, errors="coerce").rename("a"), pd.to_numeric(b, errors="coerce").rename("b")],
                     axis=1, join="inner")
    pair = pair[np.isfinite(pair["a"]) & np.isfinite(pair["b"])]
    return t_interval((pair["a"] - pair["b"]).to_numpy())


def merged_samples(folders: list[str | Path]) -> dict[str, pd.DataFrame]:
    """{method: its per-sample values indexed by clip} from rows folders (samples.csv) and run
    folders (samples.parquet); a method in several is taken from the first, as `merged_summary`
    takes its summary. A run folder without per-sample values adds nothing; a row's samples.csv
    is read as `rows compare` reads it (an error where its clips cannot be paired)."""
    from .rows import is_rows_folder

    out: dict[str, pd.DataFrame] = {}
    for folder in folders:
        if is_rows_folder(folder):
            for row in map(read_row, row_paths(folder)):
                if row.method not in out:
                    out[row.method] = _samples(row)
            continue
        f = Path(folder) / "samples.parquet"
        s = pd.read_parquet(f) if f.is_file() else pd.DataFrame(columns=["method"])
        for method, table in s.groupby("method", sort=False):
            if method not in out and "sample" in table.columns and not table["sample"].duplicated().any():
                out[method] = table.set_index("sample")
    return out


def merged_replicates(folders: list[str | Path]) -> dict[str, dict[tuple[str, str], tuple[str, np.ndarray]]]:
    """{method: {(metric, backbone): (clips' fingerprint, replicates in order)}} from rows folders
    and run folders (bootstrap.csv), a method in several taken from the first (as `merged_samples`
    does); a row or run without replicates adds nothing."""
    from .rows import is_rows_folder

    out: dict[str, dict] = {}
    for folder in folders:
        if is_rows_folder(folder):
            for row in map(read_row, row_paths(folder)):
                out.setdefault(row.method, _replicates(row))
            continue
        f = Path(folder) / REPLICATES
        if f.is_file():
            for method, table in pd.read_csv(f).groupby("method", sort=False):
                out.setdefault(str(method), _replicate_groups(table, f))
    return {m: r for m, r in out.items() if r}


def _column(samples: pd.DataFrame, metric: str, backbone: str) -> str | None:
    """The per-sample column of a summary metric: `metric[backbone]` (a registered metric) or the
    bare name (the counted and timed values), None where the samples do not carry it."""
    for c in (f"{metric}[{backbone}]", metric):
        if c in samples.columns:
            return c
    return None


def paired_side(low: float, high: float, higher_is_better: bool) -> str:
    """better / worse / tie of A against B from the interval of A - B: tie where it holds 0."""
    if low <= 0 <= high:
        return "tie"
    return "better" if (low > 0) == higher_is_better else "worse"


def _verdict(low: float, high: float, higher: bool | None) -> str:
    """Which row the paired interval favours: A better/worse where it excludes 0, else no difference."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "-"
    if higher is None:                       # a value with no better direction: say which way it moved
        return "no difference" if low <= 0 <= high else "A higher" if low > 0 else "A lower"
    return {"tie": "no difference", "better": "A better", "worse": "A worse"}[paired_side(low, high, higher)]


def compare_rows(a: Row, b: Row) -> pd.DataFrame:
    """One line per metric both rows carry (in A's order): A's and B's mean and interval, the
    relative difference of the means (A - B over |B|) and the paired difference A - B: for a
    per-sample metric over the clips both scored (finite in both), with its t interval; for a
    per-set metric over the bootstrap replicates both kept of the same clips, with its percentile
    interval (`n_paired`: the clips). Raises the rows' mismatch error where they were measured
    differently."""
    check_combinable([(str(a.path), a.identity), (str(b.path), b.identity)])
    sa, sb = _samples(a), _samples(b)
    ra, rb = _replicates(a), _replicates(b)
    b_sum = {(r.metric, r.backbone): r for r in b.summary.itertuples()}
    out = []
    for r in a.summary.itertuples():
        o = b_sum.get((r.metric, r.backbone))
        if o is None:
            continue
        rec = {"metric": r.metric, "backbone": r.backbone,
               "a_mean": r.mean, "a_ci95_low": r.ci95_low, "a_ci95_high": r.ci95_high,
               "b_mean": o.mean, "b_ci95_low": o.ci95_low, "b_ci95_high": o.ci95_high,
               "rel_diff": (r.mean - o.mean) / abs(o.mean) if o.mean else float("nan"),
               "n_paired": 0, "diff_mean": float("nan"), "diff_ci95_low": float("nan"),
               "diff_ci95_high": float("nan"), "verdict": "-"}
        ca, cb = _column(sa, r.metric, r.backbone), _column(sb, r.metric, r.backbone)
        est = paired_difference(sa[ca], sb[cb]) if ca and cb else \
            paired_set_difference(r.mean, ra.get((r.metric, r.backbone)), o.mean, rb.get((r.metric, r.backbone)), int(r.n))
        if est is not None:
            rec.update(n_paired=est.n, diff_mean=est.mean, diff_ci95_low=est.ci95_low, diff_ci95_high=est.ci95_high,
                       verdict=_verdict(est.ci95_low, est.ci95_high, higher_is_better(r.metric, r.backbone))
                       if est.n > 1 and r.backbone not in MACHINE else "-")
        out.append(rec)
    if not out:
        raise InputError(f"{a.path} and {b.path} share no metric")
    return pd.DataFrame(out, columns=list(COLUMNS))


def largest_difference(table: pd.DataFrame) -> tuple[str, float] | None:
    """The quality metric whose means differ most, relatively, as (`metric[backbone]`,
    |A - B| / |B|); None where none is finite. Counted calls differ by design between methods,
    and wall-clock and memory measure the machine, so they are left out."""
    t = table[~table["backbone"].isin(COST_BACKBONES) & np.isfinite(table["rel_diff"])]
    if t.empty:
        return None
    i = t["rel_diff"].abs().idxmax()
    return f"{t.at[i, 'metric']}[{t.at[i, 'backbone']}]", float(abs(t.at[i, "rel_diff"]))
