"""The comparison rules of `fada-bench claims`, and the numbers they compare.

A claim (`paper_claims.py`) is a comparison between method cards on the metrics of Tables 1-4 (IQA,
Sync-D, FVD-R, FID, E-FID), or a statement about the CFG sweep of Figures 3-4. Every comparison
reads a mean and its 95% interval from the runs' `summary.csv`; the same rule is applied to the
paper's printed numbers (points, no intervals), so each row shows what the paper's own numbers say
under it.

The rules, fixed before any of our numbers existed (so nothing is tuned per claim):
- "A beats B" on a metric: A's interval lies wholly on the better side of B's -> better; wholly on
  the worse side -> worse; intervals overlap -> tie. Over the metrics: holds when A is better on
  more metrics than it is worse on, does not hold when worse on more, inconclusive on a draw.
- "keeps most of the teacher's quality": on each metric the student's interval lies within 10% of
  the teacher's mean (on the better side of teacher x 1.1 for a lower-is-better metric, x 0.9 for
  higher) -> holds; wholly beyond it -> does not hold; else inconclusive. Over the metrics: holds
  when every metric holds, does not hold when any does not, else inconclusive.
- "closes most of the gap between X and Y": the interval lies wholly on Y's side of the midpoint
  of X's and Y's means -> holds; wholly on X's side -> does not hold; else inconclusive; over the
  metrics as for "beats".
- "the best of a set": A beats each other member (each pair as above): holds when every pair
  holds, does not hold when any pair does not, else inconclusive.
- Figures 3-4 "quality peaks in a region": the best point inside the region against the best
  outside it, compared as "beats" on that one metric.
- A claim whose methods (or sweep) have no values in the runs is "not measured yet", never
  inconclusive: that word is kept for intervals that overlap.

Beside each claim, the same methods are compared on the metrics beyond the paper (CSIM, the paired
landmark and expression errors, drift: every metric class with `paper = False`) with the "beats"
rule on each metric, and, where per-sample values are given, on every per-sample metric paired over
the clips both scored (`paired_lines`), and, where both rows kept their bootstrap replicates, on
every per-set metric paired replicate by replicate (`paired_set_lines`). They are shown, never
counted: the verdicts stay on the paper's metrics under the rules above.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from fada.errors import InputError

from ..registry import METHODS, METRICS
from ..tables import beyond_the_paper
from ..tables import paper_tables as _paper_tables

PAPER_METRICS = ("IQA", "Sync-D", "FVD-R", "FID", "E-FID")
WITHIN = 0.10                    # "keeps most of the quality": within 10% of the teacher
HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive"
NOT_RUN = "not measured yet"     # a method the claim compares has no value in the runs
NOT_COMPARABLE = "not comparable"          # the rows compared did not start alike (teacher; claim 4's parent)
NOT_TESTABLE = "not testable in this world"   # claim 3 when its premise on R does not hold here
PREMISE_ALPHA = 0.05             # claim 3's premise: one-sided Mann-Whitney at 5%


@lru_cache(maxsize=1)
def paper_tables() -> dict:
    return _paper_tables()


@dataclass(frozen=True)
class Value:
    mean: float
    low: float
    high: float

    @classmethod
    def point(cls, x: float) -> "Value":
        return cls(x, x, x)


@dataclass
class Verdict:
    claim: str
    statement: str
    verdict: str
    ours: list[str] = field(default_factory=list)       # one line per comparison, our numbers
    paper: str = ""                                      # the same rule on the paper's numbers
    beyond: list[str] = field(default_factory=list)     # the claim's methods on metrics beyond the paper
    paired: list[str] = field(default_factory=list)     # its method pairs paired over the clips (`paired_lines`)
    paired_sets: list[str] = field(default_factory=list)  # ... on per-set metrics, over bootstrap replicates
    # What the verdict could not check (rows without the training record it needs), shown beside the
    # verdict in the table: the lines say it too, but a reader of the table alone would miss it.
    caveat: str = ""


# ---------------------------------------------------------------------------- the rules

def side(a: Value, b: Value, higher_is_better: bool) -> str:
    """better / worse / tie of A against B: better only when the intervals do not overlap."""
    a_better = a.low > b.high if higher_is_better else a.high < b.low
    a_worse = a.high < b.low if higher_is_better else a.low > b.high
    return "better" if a_better else "worse" if a_worse else "tie"


def tally(sides: list[str]) -> str:
    better, worse = sides.count("better"), sides.count("worse")
    return HOLDS if better > worse else FAILS if worse > better else OPEN


def within(student: Value, teacher_mean: float, higher_is_better: bool) -> str:
    if higher_is_better:
        limit = teacher_mean * (1 - WITHIN) if teacher_mean >= 0 else teacher_mean * (1 + WITHIN)
        return "better" if student.low >= limit else "worse" if student.high < limit else "tie"
    limit = teacher_mean * (1 + WITHIN) if teacher_mean >= 0 else teacher_mean * (1 - WITHIN)
    return "better" if student.high <= limit else "worse" if student.low > limit else "tie"


def all_of(sides: list[str]) -> str:
    if "worse" in sides:
        return FAILS
    return HOLDS if sides and all(s == "better" for s in sides) else OPEN


def closes_gap(v: Value, x_mean: float, y_mean: float, higher_is_better: bool) -> str:
    mid = Value.point((x_mean + y_mean) / 2)
    # Toward Y means better than the midpoint when Y is the better end.
    y_better = (y_mean > x_mean) == higher_is_better
    s = side(v, mid, higher_is_better)
    if not y_better:
        s = {"better": "worse", "worse": "better", "tie": "tie"}[s]
    return s


def combine(verdicts: list[str]) -> str:
    if FAILS in verdicts:
        return FAILS
    if NOT_RUN in verdicts:
        return NOT_RUN
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else OPEN


# ---------------------------------------------------------------------------- the numbers

@dataclass
class Numbers:
    """Our means and intervals by (method, paper metric), and the paper's by (method, metric)."""
    summary: pd.DataFrame

    def metric_key(self, method: str, paper_metric: str) -> tuple[str, str] | None:
        names = paper_tables()["metrics"][paper_metric]
        s = self.summary[(self.summary["method"] == method) & self.summary["metric"].isin(names)]
        s = s[s["mean"].notna()]
        if s.empty:
            return None
        r = s.iloc[0]
        return r["metric"], r["backbone"]

    def ours(self, method: str, paper_metric: str) -> tuple[Value, str, bool] | None:
        key = self.metric_key(method, paper_metric)
        if key is None:
            return None
        s = self.summary
        r = s[(s["method"] == method) & (s["metric"] == key[0]) & (s["backbone"] == key[1])].iloc[0]
        higher = METRICS.get(f"{key[0]}[{key[1]}]").higher_is_better
        return Value(float(r["mean"]), float(r["ci95_low"]), float(r["ci95_high"])), f"{key[0]}[{key[1]}]", higher

    def value(self, method: str, metric: str, backbone: str) -> Value | None:
        s = self.summary
        r = s[(s["method"] == method) & (s["metric"] == metric) & (s["backbone"] == backbone) & s["mean"].notna()]
        if r.empty:
            return None
        r = r.iloc[0]
        return Value(float(r["mean"]), float(r["ci95_low"]), float(r["ci95_high"]))

    @staticmethod
    def paper(method: str, paper_metric: str) -> float | None:
        """The paper's HDTF number for a card's row (Tables 2-4, where every row has HDTF columns)."""
        data = paper_tables()["tables"]
        for p in METHODS.get(method).paper:
            if p.table not in (2, 3, 4):
                continue
            cols = [c["metric"] for c in data[p.table]["columns"]]
            for row in data[p.table]["rows"]:
                if row[0] == p.row:
                    text = row[1 + cols.index(paper_metric)]
                    try:
                        return float(str(text).split("±")[0])
                    except ValueError:
                        return None
        return None


def _fmt(v: Value) -> str:
    return f"{v.mean:.4g} [{v.low:.4g}, {v.high:.4g}]"


def _per_metric(nums: Numbers, methods: tuple[str, ...], rule, metrics: tuple[str, ...] = PAPER_METRICS,
                words: dict[str, str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """`rule(values, higher_is_better)` -> better / worse / tie, on each paper metric, for our values
    (means with intervals) and for the paper's numbers (points): (our sides, the paper's, lines).
    `words` renames the sides in the lines, for rules where "better" would mislead a reader (a
    student slightly below the teacher is still "within 10%")."""
    ours, paper, lines = [], [], []
    for pm in metrics:
        vals = [nums.ours(m, pm) for m in methods]
        pap = [Numbers.paper(m, pm) for m in methods]
        key = next((v[1] for v in vals if v is not None), None)
        higher = METRICS.get(key).higher_is_better if key else (pm == "IQA")
        if None not in pap:
            paper.append(rule([Value.point(p) for p in pap], higher))
        paper_text = f"; paper {' vs '.join(f'{p:g}' for p in pap)}" if None not in pap else ""
        if any(v is None for v in vals):
            lines.append(f"{pm}: missing ({', '.join(m for m, v in zip(methods, vals) if v is None)} has no value)")
            continue
        side_ = rule([v[0] for v in vals], higher)
        ours.append(side_)
        lines.append(f"{pm} ({key}, {'higher' if higher else 'lower'} is better): "
                     + " vs ".join(f"{m} {_fmt(v[0])}" for m, v in zip(methods, vals)) + f" -> {(words or {}).get(side_, side_)}{paper_text}")
    return ours, paper, lines


def beats(nums: Numbers, a: str, b: str) -> tuple[str, list[str], str]:
    ours, paper, lines = _per_metric(nums, (a, b), lambda v, h: side(v[0], v[1], h))
    return (tally(ours) if ours else NOT_RUN), lines, (tally(paper) if paper else "-")


def keeps_quality(nums: Numbers, student: str, teacher: str) -> tuple[str, list[str], str]:
    """better = within 10% of the teacher's mean, worse = beyond it (`within`)."""
    ours, paper, lines = _per_metric(nums, (student, teacher), lambda v, h: within(v[0], v[1].mean, h),
                                     words={"better": "within 10%", "worse": "beyond 10%",
                                            "tie": "interval spans the 10% bound"})
    verdict = all_of(ours + ["tie"] * (len(PAPER_METRICS) - len(ours))) if ours else NOT_RUN
    return verdict, lines, (all_of(paper) if paper else "-")


def closes_most_of_gap(nums: Numbers, method: str, without: str, full: str) -> tuple[str, list[str], str]:
    """better = past the midpoint of `without` and `full`, toward `full` (`closes_gap`)."""
    ours, paper, lines = _per_metric(nums, (method, without, full), lambda v, h: closes_gap(v[0], v[1].mean, v[2].mean, h),
                                     words={"better": f"past the midpoint toward {full}",
                                            "worse": f"on {without}'s side of the midpoint",
                                            "tie": "interval spans the midpoint"})
    return (tally(ours) if ours else NOT_RUN), lines, (tally(paper) if paper else "-")


def beyond_lines(nums: Numbers, pairs) -> list[str]:
    """Each pair (A, B) of methods on every metric beyond the paper, by the "beats" rule (`side`)."""
    lines = []
    for metric, backbone in beyond_the_paper(nums.summary):
        key = f"{metric}[{backbone}]"
        higher = METRICS.get(key).higher_is_better
        for a, b in pairs:
            va, vb = nums.value(a, metric, backbone), nums.value(b, metric, backbone)
            if va is not None and vb is not None:
                lines.append(f"{key} ({'higher' if higher else 'lower'} is better): {a} {_fmt(va)} vs "
                             f"{b} {_fmt(vb)} -> {side(va, vb, higher)}")
    return lines


def paired_lines(samples: dict[str, pd.DataFrame], pairs) -> list[str]:
    """Each pair (A, B) on every per-sample metric both carry, paired over the clips both scored:
    the mean of A - B with its 95% paired t interval (`row_compare.paired_difference`), better or
    worse where the interval excludes 0, else tie. Every row is scored on the same clips with the
    same seed, so the clips' own difficulty cancels; shown beside a claim, never counted."""
    from ..row_compare import paired_difference, paired_side

    keys: list[str] = []
    for a, b in pairs:
        if a in samples and b in samples:
            keys += [c for c in samples[a].columns if c in samples[b].columns and c not in keys and _per_sample_metric(c)]
    lines = []
    for key in keys:
        higher = METRICS.get(key).higher_is_better
        for a, b in pairs:
            if a not in samples or b not in samples or key not in samples[a] or key not in samples[b]:
                continue
            est = paired_difference(samples[a][key], samples[b][key])
            if est.n < 2:
                continue
            lines.append(f"{key} ({'higher' if higher else 'lower'} is better): {a} - {b} = "
                         f"{est.mean:.4g} [{est.ci95_low:.4g}, {est.ci95_high:.4g}] over {est.n} clips -> "
                         f"{paired_side(est.ci95_low, est.ci95_high, higher)}")
    return lines


def paired_set_lines(replicates: dict[str, dict], summary: pd.DataFrame, pairs) -> list[str]:
    """Each pair (A, B) on every per-set metric (FID, FVD, E-FID) both kept bootstrap replicates
    of, from the same clips: A - B with the percentile interval of the replicates' differences
    (`row_compare.paired_set_difference`), better or worse where it excludes 0, else tie.
    `replicates`: {method: {(metric, backbone): (clips' fingerprint, replicates)}}
    (`row_compare.merged_replicates`); the means and clip counts come from `summary`. Shown beside
    a claim, never counted."""
    from ..row_compare import paired_set_difference, paired_side

    def row(method, metric, backbone):
        r = summary[(summary["method"] == method) & (summary["metric"] == metric) & (summary["backbone"] == backbone)]
        return None if r.empty or pd.isna(r["mean"].iloc[0]) else r.iloc[0]

    keys: list[tuple[str, str]] = []
    for a, b in pairs:
        keys += [k for k in replicates.get(a, {}) if k in replicates.get(b, {}) and k not in keys]
    lines = []
    for metric, backbone in keys:
        key = f"{metric}[{backbone}]"
        if key not in METRICS:
            continue
        higher = METRICS.get(key).higher_is_better
        for a, b in pairs:
            ra, rb = replicates.get(a, {}).get((metric, backbone)), replicates.get(b, {}).get((metric, backbone))
            sa, sb = row(a, metric, backbone), row(b, metric, backbone)
            if ra is None or rb is None or sa is None or sb is None:
                continue
            est = paired_set_difference(float(sa["mean"]), ra, float(sb["mean"]), rb, int(sa["n"]))
            if est is None:
                continue
            lines.append(f"{key} ({'higher' if higher else 'lower'} is better): {a} - {b} = "
                         f"{est.mean:.4g} [{est.ci95_low:.4g}, {est.ci95_high:.4g}] over {len(ra[1])} resamples of "
                         f"the same {est.n} clips -> {paired_side(est.ci95_low, est.ci95_high, higher)}")
    return lines


def _per_sample_metric(key: str) -> bool:
    return key in METRICS and bool(METRICS.get(key).per_sample)


# ---------------------------------------------------------------------------- Figures 3-4

def peak_in_region(sweep: pd.DataFrame, axis: str, fixed_axis: str, fixed: float, metric: str,
                   region) -> tuple[str, list[str]]:
    d = sweep[(sweep["metric"] == metric) & ((sweep[fixed_axis] - fixed).abs() < 1e-9) & sweep["mean"].notna()]
    if d.empty:
        return NOT_RUN, [f"{metric}: no sweep points"]
    key = f"{metric}[{d['backbone'].iloc[0]}]"
    higher = METRICS.get(key).higher_is_better
    inside = d[d[axis].map(region)]
    outside = d[~d[axis].map(region)]
    pts = ", ".join(f"{axis} {r[axis]:g}: {r['mean']:.4g}" for _, r in d.sort_values(axis).iterrows())
    if inside.empty or outside.empty:
        return OPEN, [f"{key}: {pts} (no point {'inside' if inside.empty else 'outside'} the region)"]
    pick = (lambda f: f.loc[f["mean"].idxmax()]) if higher else (lambda f: f.loc[f["mean"].idxmin()])
    bi, bo = pick(inside), pick(outside)
    s = side(Value(bi["mean"], bi["ci95_low"], bi["ci95_high"]), Value(bo["mean"], bo["ci95_low"], bo["ci95_high"]), higher)
    return tally([s]), [f"{key} against {axis} ({fixed_axis} = {fixed:g}): {pts}; best inside {axis} {bi[axis]:g} "
                        f"{_fmt(Value(bi['mean'], bi['ci95_low'], bi['ci95_high']))}, best outside {axis} {bo[axis]:g} "
                        f"{_fmt(Value(bo['mean'], bo['ci95_low'], bo['ci95_high']))} -> {s}"]


def read_sweep(folder: Path) -> pd.DataFrame:
    """The CFG sweep's points (`sweep.csv` of `fada-bench sweep cfg`): method, cfg_a, cfg_r, metric,
    backbone, mean, ci95_low, ci95_high."""
    path = Path(folder) / "sweep.csv"
    if not path.is_file():
        raise InputError(f"{folder} has no sweep.csv: make it with `fada-bench sweep cfg --out {folder}`")
    return pd.read_csv(path)


def unrecorded_start(training: dict[str, dict], recipes: tuple[str, ...]) -> list[str]:
    """The `recipes` whose training record (`rows.training_record`) names no parent checkpoint."""
    return [r for r in recipes if not (training.get(r) or {}).get("parent_sha256")]


def same_start(training: dict[str, dict], recipes: tuple[str, ...],
               parent_row: tuple[str, str | None] | None = None) -> tuple[bool, list[str]]:
    """Whether rows compared as equals started from the same parent checkpoint (its sha256) and
    trained the same steps, from their training records (`rows.training_record`): (alike, lines).
    `parent_row`: (method, its checkpoint's sha256) of the row the variants are compared with as
    their parent; a parent other than that checkpoint is not alike either. Rows without records
    are not judged (alike), and the lines say so."""
    unknown = unrecorded_start(training, recipes)
    known = {r: (training[r]["parent_sha256"], training[r].get("steps")) for r in recipes if r not in unknown}
    if unknown:
        return True, [f"start points: not recorded for {', '.join(unknown)} "
                      "(rows saved with --training-logs record the parent's sha256 and the steps)"]
    parents = {p for p, _ in known.values()}
    steps = {st for _, st in known.values()}
    text = "; ".join(f"{r}: parent {p[:12]}, steps {st}" for r, (p, st) in known.items())
    if len(parents) == 1 and len(steps) == 1:
        (parent,) = parents
        if parent_row is not None and parent_row[1] and parent_row[1] != parent:
            return False, [f"start points: the variants' parent {parent[:12]} is not the checkpoint the "
                           f"{parent_row[0]} row scored ({parent_row[1][:12]}); score that row from the parent"]
        return True, [f"start points alike: {text}"]
    return False, [f"start points differ (so the variants are not compared as equals): {text}"]


def ratio_premise(ratios: pd.DataFrame | None) -> tuple[bool, list[str]]:
    """Claim 3's premise (Sec. 3.2): clips with poor sync get a larger R = L_gt / L_teacher than
    clean ones, so W(R) removes their ground truth. From R per clip (`fada.train.ratio_log`: R, tier,
    defects): holds when the sync-defect clips' R is larger than the clean clips' by a one-sided
    Mann-Whitney U test at 5%. (testable, lines); with no measurement the claim is judged as before
    and a line says the premise is unmeasured."""
    if ratios is None:
        return True, ["premise (sync-defect clips get a larger R than clean ones): not measured "
                      "(claims --ratio-probe)"]
    from scipy.stats import mannwhitneyu

    from fada.train.ratio_log import R_PEAK, SYNC_DEFECTS, quantile_table

    q = quantile_table(ratios).set_index("group")
    defects = ratios["defects"].map(set)
    sync = ratios["R"][defects.map(lambda d: bool(d & set(SYNC_DEFECTS)))]
    clean = ratios["R"][defects.map(lambda d: not d)]
    rows = [f"{g}: n {int(q.loc[g, 'n'])}, R q10/q50/q90 {q.loc[g, 'q10']:.3g} / {q.loc[g, 'q50']:.3g} / {q.loc[g, 'q90']:.3g}, "
            f"at or past R_p = {R_PEAK:g} (where W falls) {q.loc[g, 'past_r_peak']:.1%}"
            for g in ("clean", "sync defect", *[f"defect {d}" for d in SYNC_DEFECTS]) if q.loc[g, "n"]]
    if len(sync) < 2 or len(clean) < 2:
        return True, ["premise: too few clean or sync-defect clips measured to judge it"] + rows
    p = float(mannwhitneyu(sync, clean, alternative="greater").pvalue)
    holds = p < PREMISE_ALPHA
    return holds, [f"premise (sync-defect clips get a larger R than clean ones): {'holds' if holds else 'does not hold'} "
                   f"here (one-sided Mann-Whitney p = {p:.3g})"] + rows
