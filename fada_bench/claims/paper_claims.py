"""The paper's claims, as data: each an id, its statement, the check (built from the rules in
`rules.py`) that gives its verdict, our lines and the verdict of the paper's own numbers, and the
method pairs shown beside it on the metrics beyond the paper."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ..rows import same_teacher, unrecorded_teacher
from .rules import (FAILS, HOLDS, NOT_COMPARABLE, NOT_RUN, NOT_TESTABLE, OPEN, PAPER_METRICS, WITHIN, Numbers, Verdict,
                    _per_metric, all_of, beats, beyond_lines, closes_most_of_gap, combine, keeps_quality, peak_in_region,
                    paired_lines, paired_set_lines, ratio_premise, same_start, side,
                    unrecorded_start)

Outcome = tuple[str, list[str], str]      # verdict, our lines, the paper's numbers under the same rule

TABLE3_VARIANTS = ("student_b_fixed0", "fixed_0p2", "fixed_1p0", "fixed_0p2_only_a", "adaptive_unl_0p5",
                   "adaptive_unl_0p25", "adaptive_0p5")
RFLOW_VARIANTS = ("rflow", "rflow_v")      # Table 2's RFlow: epsilon and velocity parameterisation
TABLE4_VARIANTS = ("cfg_time_embed_tiny", "cfg_layer_tiny", "fada_fast_tiny")   # recipes compared as equals


@dataclass(frozen=True)
class Given:
    """What the checks read besides our numbers: the CFG sweep (`sweep.csv`), the rows' training
    records ({recipe: record}, `rows.training_records`; claim 4's start points), R per clip
    (`fada.train.ratio_log`; claim 3's premise) and the rows' checkpoints and teachers
    (`rows.lineage`; one teacher per claim). None where not given."""
    sweep: pd.DataFrame | None = None
    training: dict[str, dict] | None = None
    ratios: pd.DataFrame | None = None
    lineage: dict[str, dict] | None = None     # {method: checkpoint and teacher sha256}, `rows.lineage`


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    # The outcome from our numbers and what else was given; None: nothing to check.
    check: Callable[[Numbers, Given], Outcome | None]
    # The claim's method pairs (A, B), shown on the metrics beyond the paper; never part of the verdict.
    beyond: tuple[tuple[str, str], ...] = ()
    # The distilled students it compares: "not comparable" unless all come from the teacher row's
    # checkpoint (`same_teacher`).
    students: tuple[str, ...] = ()
    # The recipes it compares as equals, which must start from one parent checkpoint (`same_start`).
    alike_start: tuple[str, ...] = ()


def _gather(outcomes: list[tuple[str, str, Outcome]]) -> tuple[list[str], list[str], list[str]]:
    """(label in our lines, label in the paper's, outcome) of several comparisons: (verdicts, lines,
    the paper's verdicts)."""
    verdicts, lines, paper = [], [], []
    for label, paper_label, (v, ls, p) in outcomes:
        verdicts.append(v)
        paper.append(f"{paper_label}: {p}")
        lines += [f"{label} ({v}):"] + [f"  {x}" for x in ls]
    return verdicts, lines, paper


def _beats_each(nums: Numbers, a: str, others) -> tuple[list[str], list[str], list[str]]:
    """A against each of `others`."""
    return _gather([(f"{a} vs {other}", f"vs {other}", beats(nums, a, other)) for other in others])


def best_of(a: str, others: tuple[str, ...]):
    def check(nums, given) -> Outcome:
        verdicts, lines, paper = _beats_each(nums, a, others)
        return combine(verdicts), lines, "; ".join(paper)
    return check


def keep_quality(students: tuple[str, ...], teacher: str):
    def check(nums, given) -> Outcome:
        verdicts, lines, paper = _gather([(s, s, keeps_quality(nums, s, teacher)) for s in students])
        return combine(verdicts), lines, "; ".join(paper)
    return check


def teacher_beats_static(nums, given) -> Outcome:
    # Not a claim of the paper: the condition for reading the others. A teacher that does not beat
    # the reference frame repeated on lip sync and expressions has nothing to distil.
    sides, _, lines = _per_metric(nums, ("teacher", "static"), lambda v, h: side(v[0], v[1], h), ("Sync-D", "E-FID"))
    _, _, more = _per_metric(nums, ("teacher", "static", "vae_roundtrip", "ground_truth"), lambda v, h: "tie",
                             ("IQA", "FVD-R", "FID"))
    return (all_of(sides + ["tie"] * (2 - len(sides))) if sides else NOT_RUN,
            lines + [x.replace(" -> tie", "") for x in more], "-")


def rflow_row(nums: Numbers) -> tuple[str, str | None, list[str]]:
    """Table 2's RFlow row is the better of its two parameterisations (`beats`, the same rule as
    every claim; epsilon when neither beats the other): (the row, the other variant or None when
    it has no values, lines saying which and why)."""
    have = [m for m in RFLOW_VARIANTS if any(nums.ours(m, pm) for pm in PAPER_METRICS)]
    if len(have) < 2:
        missing = [m for m in RFLOW_VARIANTS if m not in have]
        return "rflow", None, [f"RFlow row: rflow ({', '.join(missing)} not measured yet, so whether claim 2 "
                               "depends on RFlow's parameterisation is not known)"]
    v, _, _ = beats(nums, "rflow_v", "rflow")
    row = "rflow_v" if v == HOLDS else "rflow"
    return row, ("rflow" if row == "rflow_v" else "rflow_v"), [
        f"RFlow row: {row} (rflow_v, velocity matching, against rflow, epsilon: beats -> {v})"]


def perflow_beats_baselines(nums, given) -> Outcome:
    rflow, other, choice = rflow_row(nums)
    verdicts, lines, paper = _beats_each(nums, "perflow", ("tcd", rflow))
    lines = choice + lines
    if other is not None:
        alt, _, _ = _beats_each(nums, "perflow", ("tcd", other))
        lines.append(f"with {other} as the RFlow row instead, claim 2 would be: {combine(alt)}; so claim 2 "
                     f"{'depends' if combine(alt) != combine(verdicts) else 'does not depend'} on RFlow's parameterisation")
    return combine(verdicts), lines, "; ".join(paper)


def if_testable(check):
    """Claim 3's parts: "not testable in this world" where its premise on R does not hold here
    (`ratio_premise`), with the premise's lines first."""
    def checked(nums, given) -> Outcome:
        verdict, lines, paper = check(nums, given)
        testable, premise = ratio_premise(given.ratios)
        return (verdict if testable else NOT_TESTABLE), premise + lines, paper
    return checked


def lenient_set_needs_adaptive(nums, given) -> Outcome:
    v1, l1, p1 = beats(nums, "student_b_fixed0", "perflow")
    v2, l2, p2 = beats(nums, "fada_balanced", "perflow")
    not_v1 = {HOLDS: FAILS, FAILS: HOLDS, OPEN: OPEN, NOT_RUN: NOT_RUN}[v1]
    not_p1 = {HOLDS: FAILS, FAILS: HOLDS, OPEN: OPEN}.get(p1, "-")
    return (combine([not_v1, v2]),
            [f"student_b_fixed0 vs perflow (beats: {v1}):"] + [f"  {x}" for x in l1]
            + [f"fada_balanced vs perflow (beats: {v2}):"] + [f"  {x}" for x in l2],
            f"Fixed-0 does not beat A: {not_p1}; Adaptive-0.25 beats A: {p2}")


def cfg_layer_with_tokens(nums, given) -> Outcome:
    """"Not comparable" where the rows compared as equals did not start alike (`same_start`), or not
    from the checkpoint the FADA-Balanced row scored (the gap is measured against that row)."""
    v, ls, p = closes_most_of_gap(nums, "fada_fast", "no_cfg_distill", "fada_balanced")
    verdicts, lines, paper = _beats_each(nums, "fada_fast", ("cfg_time_embed", "cfg_layer"))
    parent = ((given.lineage or {}).get("fada_balanced") or {}).get("checkpoint")
    alike, start_lines = same_start(given.training or {}, TABLE4_VARIANTS, ("fada_balanced", parent))
    verdict = combine([v, *verdicts])
    if not alike and verdict != NOT_RUN:
        verdict = NOT_COMPARABLE
    return (verdict,
            start_lines + [f"fada_fast between no_cfg_distill and fada_balanced ({v}):"] + [f"  {x}" for x in ls] + lines,
            f"closes the gap: {p}; " + "; ".join(paper))


def cfg_peaks(nums, given) -> Outcome | None:
    sweep = given.sweep
    if sweep is None:
        return None
    lines, verdicts = [], []
    for metric in sorted(set(sweep["metric"])):
        va, la = peak_in_region(sweep, "cfg_a", "cfg_r", 2.0, metric, lambda a: a >= 6.5 - 1e-9)
        vr, lr = peak_in_region(sweep, "cfg_r", "cfg_a", 6.5, metric, lambda r: abs(r - 2.0) <= 0.5 + 1e-9)
        verdicts += [va, vr]
        lines += [f"({va}) {x}" for x in la] + [f"({vr}) {x}" for x in lr]
    return combine(verdicts), lines, "qualitative in the paper (figures only)"


CLAIMS = (
    Claim("0", "The teacher beats static on Sync-D and E-FID (intervals apart); its IQA, FVD and FID "
               "beside static, the VAE's round trip and the ground truth", teacher_beats_static,
          beyond=(("teacher", "static"), ("teacher", "vae_roundtrip"), ("teacher", "ground_truth"))),
    Claim("1", "Distillation from 75 to 18 (FADA-Balanced) to 6 NFE (FADA-Fast) keeps most of the "
               f"teacher's quality (every metric within {WITHIN:.0%} of the teacher's)",
          keep_quality(("fada_balanced", "fada_fast"), "teacher"), students=("fada_balanced", "fada_fast"),
          # fada_4 (one step per window, beyond the paper): whether quality falls below 6 NFE
          beyond=(("fada_balanced", "teacher"), ("fada_fast", "teacher"), ("fada_4", "fada_fast"))),
    Claim("2", "PeRFlow beats TCD and RFlow at 18 NFE (Table 2)", perflow_beats_baselines,
          beyond=(("perflow", "tcd"), ("perflow", "rflow")), students=("perflow", "tcd", *RFLOW_VARIANTS)),
    Claim("3a", "On the larger lenient set B a student beats one on A only with adaptive mixed "
                "supervision: Fixed-0 on B does not beat A, Adaptive-0.25 on B does (Table 3)",
          if_testable(lenient_set_needs_adaptive),
          beyond=(("student_b_fixed0", "perflow"), ("fada_balanced", "perflow")),
          students=("student_b_fixed0", "perflow", "fada_balanced")),
    Claim("3b", "Adaptive-0.25 is the best weighting of Table 3",
          if_testable(best_of("fada_balanced", TABLE3_VARIANTS)),
          beyond=tuple(("fada_balanced", v) for v in TABLE3_VARIANTS), students=("fada_balanced", *TABLE3_VARIANTS)),
    Claim("4", "CFG distillation with a CFG layer and tokens closes most of the gap left by dropping "
               "CFG (6 NFE, conditional output only, against 18 NFE multi-CFG), and beats the "
               "time-embedding and token-free variants (Table 4)", cfg_layer_with_tokens,
          beyond=(("fada_fast", "no_cfg_distill"), ("fada_fast", "fada_balanced"), ("fada_fast", "cfg_time_embed"),
                  ("fada_fast", "cfg_layer")),
          students=("fada_balanced", "no_cfg_distill", "cfg_time_embed", "cfg_layer", "fada_fast"),
          alike_start=TABLE4_VARIANTS),
    Claim("5", "Quality (FVD, Sync-D) peaks near cfg_a >= 6.5 (Figure 3, cfg_r = 2.0) and "
               "cfg_r = 2.0 (Figure 4, cfg_a = 6.5; region 1.5-2.5)", cfg_peaks),
)


def caveat(claim: Claim, verdict: str, training: dict[str, dict] | None, lineage: dict[str, dict] | None) -> str:
    """What a verdict (holds, does not hold, inconclusive) rests on unchecked: the rows whose record
    names no teacher (`rows.unrecorded_teacher`) or, for variants compared as equals, no parent
    checkpoint (`unrecorded_start`). Such rows are not judged, so the verdict stands, with this said."""
    if verdict not in (HOLDS, FAILS, OPEN):
        return ""
    parts = []
    if claim.students and lineage is not None and (u := unrecorded_teacher(lineage, claim.students)):
        parts.append(f"teacher not recorded for {', '.join(u)}")
    if claim.alike_start and (u := unrecorded_start(training or {}, claim.alike_start)):
        parts.append(f"start points not recorded for {', '.join(u)}")
    return "; ".join(parts)


def check_claims(summary: pd.DataFrame, sweep: pd.DataFrame | None = None,
                 training: dict[str, dict] | None = None, ratios: pd.DataFrame | None = None,
                 lineage: dict[str, dict] | None = None,
                 samples: dict[str, pd.DataFrame] | None = None,
                 replicates: dict[str, dict] | None = None) -> list[Verdict]:
    """The verdict of every claim that can be checked (claim 5 needs the CFG sweep), each with its
    method pairs on the metrics beyond the paper beside it. `training`: {recipe: training record}
    of the rows (`rows.training_records`), for claim 4's check that its variants started alike.
    `ratios`: R per clip (`fada.train.ratio_log`), for claim 3's premise: where it does not hold,
    claim 3 is not testable in this world. `lineage`: each row's checkpoint and teacher
    (`rows.lineage`): a claim whose students were not all distilled from the teacher row's
    checkpoint is not comparable. `samples`: each method's per-sample values by clip
    (`row_compare.merged_samples`), for the claim's pairs paired over the clips (shown, not counted).
    `replicates`: each method's per-set bootstrap replicates (`row_compare.merged_replicates`), for
    the same pairs on the per-set metrics, paired replicate by replicate (shown, not counted)."""
    nums = Numbers(summary)
    given = Given(sweep, training, ratios, lineage)
    out = []
    for claim in CLAIMS:
        outcome = claim.check(nums, given)
        if outcome is not None:
            verdict, lines, paper = outcome
            if claim.students and lineage is not None:
                alike, teacher_lines = same_teacher(lineage, claim.students)
                lines = teacher_lines + lines
                if not alike and verdict in (HOLDS, FAILS, OPEN):
                    verdict = NOT_COMPARABLE
            out.append(Verdict(claim.id, claim.statement, verdict, lines, paper, beyond_lines(nums, claim.beyond),
                               paired_lines(samples, claim.beyond) if samples else [],
                               paired_set_lines(replicates, summary, claim.beyond) if replicates else [],
                               caveat(claim, verdict, training, lineage)))
    return out
