"""The paper's claims, as data: each an id, its statement and the check (built from the rules in
`rules.py`) that gives its verdict, our lines and the verdict of the paper's own numbers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .rules import (FAILS, HOLDS, NOT_RUN, OPEN, WITHIN, Numbers, Verdict, _per_metric, all_of, beats,
                    closes_most_of_gap, combine, keeps_quality, peak_in_region, side)

Outcome = tuple[str, list[str], str]      # verdict, our lines, the paper's numbers under the same rule

TABLE3_VARIANTS = ("student_b_fixed0", "fixed_0p2", "fixed_1p0", "fixed_0p2_only_a", "adaptive_unl_0p5",
                   "adaptive_unl_0p25", "adaptive_0p5")


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    # The outcome from our numbers and the CFG sweep (None when not given); None: nothing to check.
    check: Callable[[Numbers, pd.DataFrame | None], Outcome | None]


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
    def check(nums, sweep) -> Outcome:
        verdicts, lines, paper = _beats_each(nums, a, others)
        return combine(verdicts), lines, "; ".join(paper)
    return check


def keep_quality(students: tuple[str, ...], teacher: str):
    def check(nums, sweep) -> Outcome:
        verdicts, lines, paper = _gather([(s, s, keeps_quality(nums, s, teacher)) for s in students])
        return combine(verdicts), lines, "; ".join(paper)
    return check


def teacher_beats_static(nums, sweep) -> Outcome:
    # Not a claim of the paper: the condition for reading the others. A teacher that does not beat
    # the reference frame repeated on lip sync and expressions has nothing to distil.
    sides, _, lines = _per_metric(nums, ("teacher", "static"), lambda v, h: side(v[0], v[1], h), ("Sync-D", "E-FID"))
    _, _, more = _per_metric(nums, ("teacher", "static", "vae_roundtrip", "ground_truth"), lambda v, h: "tie",
                             ("IQA", "FVD-R", "FID"))
    return (all_of(sides + ["tie"] * (2 - len(sides))) if sides else NOT_RUN,
            lines + [x.replace(" -> tie", "") for x in more], "-")


def lenient_set_needs_adaptive(nums, sweep) -> Outcome:
    v1, l1, p1 = beats(nums, "student_b_fixed0", "perflow")
    v2, l2, p2 = beats(nums, "fada_balanced", "perflow")
    not_v1 = {HOLDS: FAILS, FAILS: HOLDS, OPEN: OPEN, NOT_RUN: NOT_RUN}[v1]
    not_p1 = {HOLDS: FAILS, FAILS: HOLDS, OPEN: OPEN}.get(p1, "-")
    return (combine([not_v1, v2]),
            [f"student_b_fixed0 vs perflow (beats: {v1}):"] + [f"  {x}" for x in l1]
            + [f"fada_balanced vs perflow (beats: {v2}):"] + [f"  {x}" for x in l2],
            f"Fixed-0 does not beat A: {not_p1}; Adaptive-0.25 beats A: {p2}")


def cfg_layer_with_tokens(nums, sweep) -> Outcome:
    v, ls, p = closes_most_of_gap(nums, "fada_fast", "no_cfg_distill", "fada_balanced")
    verdicts, lines, paper = _beats_each(nums, "fada_fast", ("cfg_time_embed", "cfg_layer"))
    return (combine([v, *verdicts]),
            [f"fada_fast between no_cfg_distill and fada_balanced ({v}):"] + [f"  {x}" for x in ls] + lines,
            f"closes the gap: {p}; " + "; ".join(paper))


def cfg_peaks(nums, sweep) -> Outcome | None:
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
               "beside static, the VAE's round trip and the ground truth", teacher_beats_static),
    Claim("1", "Distillation from 75 to 18 (FADA-Balanced) to 6 NFE (FADA-Fast) keeps most of the "
               f"teacher's quality (every metric within {WITHIN:.0%} of the teacher's)",
          keep_quality(("fada_balanced", "fada_fast"), "teacher")),
    Claim("2", "PeRFlow beats TCD and RFlow at 18 NFE (Table 2)", best_of("perflow", ("tcd", "rflow"))),
    Claim("3a", "On the larger lenient set B a student beats one on A only with adaptive mixed "
                "supervision: Fixed-0 on B does not beat A, Adaptive-0.25 on B does (Table 3)",
          lenient_set_needs_adaptive),
    Claim("3b", "Adaptive-0.25 is the best weighting of Table 3", best_of("fada_balanced", TABLE3_VARIANTS)),
    Claim("4", "CFG distillation with a CFG layer and tokens closes most of the gap left by dropping "
               "CFG (6 NFE, conditional output only, against 18 NFE multi-CFG), and beats the "
               "time-embedding and token-free variants (Table 4)", cfg_layer_with_tokens),
    Claim("5", "Quality (FVD, Sync-D) peaks near cfg_a >= 6.5 (Figure 3, cfg_r = 2.0) and "
               "cfg_r = 2.0 (Figure 4, cfg_a = 6.5; region 1.5-2.5)", cfg_peaks),
)


def check_claims(summary: pd.DataFrame, sweep: pd.DataFrame | None = None) -> list[Verdict]:
    """The verdict of every claim that can be checked (claim 5 needs the CFG sweep)."""
    nums = Numbers(summary)
    out = []
    for claim in CLAIMS:
        outcome = claim.check(nums, sweep)
        if outcome is not None:
            verdict, lines, paper = outcome
            out.append(Verdict(claim.id, claim.statement, verdict, lines, paper))
    return out
