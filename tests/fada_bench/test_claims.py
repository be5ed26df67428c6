"""`fada-bench claims`: the verdict rules, worked by hand on the paper's own numbers and on made-up
summaries where each verdict is known, and CLAIMS.md keeping its notes when regenerated."""
from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from fada.train.log import training_hardware, training_hours
from fada_bench.claims import FAILS, HOLDS, NOT_RUN, OPEN, Value, check_claims, closes_gap, render, side, tally, within
from fada_bench.cli import app

# (metric, backbone) of the synthetic world for each paper column; IQA is the only higher-is-better.
KEYS = {"IQA": ("iqa", "synthetic"), "Sync-D": ("sync_d", "synthetic"), "FVD-R": ("fvd", "synthetic"),
        "FID": ("fid", "synthetic"), "E-FID": ("efid", "synthetic")}


def test_side_needs_intervals_that_do_not_overlap():
    a, b = Value(1.0, 0.9, 1.1), Value(2.0, 1.8, 2.2)
    assert side(a, b, higher_is_better=False) == "better" and side(b, a, False) == "worse"
    assert side(a, b, higher_is_better=True) == "worse"
    assert side(Value(1.0, 0.5, 1.9), b, False) == "tie"      # 1.9 > 1.8: overlap
    assert tally(["better", "tie", "worse", "better"]) == HOLDS
    assert tally(["better", "worse"]) == OPEN and tally(["worse"]) == FAILS and tally([]) == OPEN


def test_within_ten_percent_and_the_gap_midpoint():
    assert within(Value(10.9, 10.5, 10.99), 10.0, higher_is_better=False) == "better"
    assert within(Value(11.5, 11.1, 11.9), 10.0, False) == "worse"
    assert within(Value(10.9, 10.5, 11.2), 10.0, False) == "tie"
    assert within(Value(3.7, 3.65, 3.75), 4.0, True) == "better" and within(Value(3.5, 3.4, 3.59), 4.0, True) == "worse"
    # Gap from X = 9.0 (without) to Y = 8.0 (full), lower is better: the midpoint is 8.5.
    assert closes_gap(Value(8.1, 8.0, 8.4), 9.0, 8.0, False) == "better"
    assert closes_gap(Value(8.8, 8.6, 8.9), 9.0, 8.0, False) == "worse"
    assert closes_gap(Value(8.5, 8.3, 8.7), 9.0, 8.0, False) == "tie"
    # Higher is better, Y above X.
    assert closes_gap(Value(3.9, 3.85, 3.95), 3.6, 4.0, True) == "better"


def _summary(values: dict[str, dict[str, Value]]) -> pd.DataFrame:
    rows = [{"method": m, "metric": KEYS[pm][0], "backbone": KEYS[pm][1], "mean": v.mean, "ci95_low": v.low,
             "ci95_high": v.high, "n": 16, "n_failed": 0}
            for m, per in values.items() for pm, v in per.items()]
    return pd.DataFrame(rows)


def _paper_like(deltas: dict[str, float]) -> pd.DataFrame:
    """Every Table 2-4 card at tight intervals around a common value, shifted per method (lower is
    better on every metric but IQA, where the shift is subtracted)."""
    methods = ["static", "ground_truth", "vae_roundtrip", "teacher", "perflow", "tcd", "rflow", "student_b_fixed0", "fixed_0p2", "fixed_1p0", "fixed_0p2_only_a",
               "adaptive_unl_0p5", "adaptive_unl_0p25", "adaptive_0p5", "fada_balanced", "no_cfg_distill",
               "cfg_time_embed", "cfg_layer", "fada_fast"]
    out = {}
    for m in methods:
        d = deltas.get(m, 0.0)
        out[m] = {pm: Value(10 - d if pm == "IQA" else 10 + d, (10 - d if pm == "IQA" else 10 + d) - 0.1,
                            (10 - d if pm == "IQA" else 10 + d) + 0.1) for pm in KEYS}
    return _summary(out)


def test_the_paper_numbers_under_the_rules():
    verdicts = {v.claim: v for v in check_claims(_paper_like({}))}
    # Worked by hand from Tables 2-4 (HDTF):
    # 1: Balanced is within 10% of the teacher everywhere; Fast's E-FID 1.635 > 1.1 x 1.365 = 1.5015.
    assert verdicts["1"].paper == f"fada_balanced: {HOLDS}; fada_fast: {FAILS}"
    # 2: PeRFlow vs TCD: worse IQA and Sync-D, better FVD, FID, E-FID (3 to 2); vs RFlow better on all 5.
    assert verdicts["2"].paper == f"vs tcd: {HOLDS}; vs rflow: {HOLDS}"
    # 3a: Fixed-0 on B vs A: better Sync-D, E-FID; worse IQA, FVD, FID (2 to 3) -> it does not beat A.
    assert verdicts["3a"].paper == f"Fixed-0 does not beat A: {HOLDS}; Adaptive-0.25 beats A: {HOLDS}"
    # 4: Sync-D 7.996 against the midpoint (9.020 + 7.925) / 2 = 8.4725: past it; the other four too.
    assert verdicts["4"].paper == f"closes the gap: {HOLDS}; vs cfg_time_embed: {HOLDS}; vs cfg_layer: {HOLDS}"


def test_equal_methods_are_inconclusive_and_clear_gaps_decide():
    assert {v.verdict for v in check_claims(_paper_like({}))} <= {OPEN, HOLDS}   # keeps quality can hold on equal
    v = {x.claim: x for x in check_claims(_paper_like({"tcd": 1.0, "rflow": 1.0}))}
    assert v["2"].verdict == HOLDS
    v = {x.claim: x for x in check_claims(_paper_like({"tcd": -1.0, "rflow": 1.0}))}
    assert v["2"].verdict == FAILS
    v = {x.claim: x for x in check_claims(_paper_like({"fada_fast": 5.0}))}
    assert v["1"].verdict == FAILS                   # 15 > 1.1 x 10
    # Fast near the full model and far from the conditional-only student: the gap is closed.
    v = {x.claim: x for x in check_claims(_paper_like({"no_cfg_distill": 3.0, "cfg_time_embed": 1.0,
                                                         "cfg_layer": 1.0}))}
    assert v["4"].verdict == HOLDS
    v = {x.claim: x for x in check_claims(_paper_like({"fada_fast": 2.5, "no_cfg_distill": 3.0}))}
    assert v["4"].verdict == FAILS
    # Adaptive-0.25 on B better than A, Fixed-0 on B worse: 3a holds; Fixed-0 level with A: undecided.
    v = {x.claim: x for x in check_claims(_paper_like({"fada_balanced": -1.0, "student_b_fixed0": 1.0}))}
    assert v["3a"].verdict == HOLDS
    v = {x.claim: x for x in check_claims(_paper_like({"fada_balanced": -1.0}))}
    assert v["3a"].verdict == OPEN


def test_the_keeps_quality_lines_name_the_bound_not_better():
    # Fast 0.5 worse than the teacher on every metric: still within 10% of 10, so it holds, and the
    # lines must not call a worse student "better".
    v = {x.claim: x for x in check_claims(_paper_like({"fada_fast": 0.5}))}
    fast = [line for line in v["1"].ours if line.startswith("  ") and "fada_fast " in line]
    assert len(fast) == 5 and all(line.split(" -> ")[1].startswith("within 10%") for line in fast)
    v = {x.claim: x for x in check_claims(_paper_like({"fada_fast": 5.0}))}
    assert any(" -> beyond 10%" in line for line in v["1"].ours)


def test_the_teacher_must_beat_static_on_sync_and_expressions():
    v = {x.claim: x for x in check_claims(_paper_like({"static": 1.0}))}
    assert v["0"].verdict == HOLDS and any("FID" in line and "ground_truth" in line for line in v["0"].ours)
    v = {x.claim: x for x in check_claims(_paper_like({"static": -1.0}))}
    assert v["0"].verdict == FAILS
    assert {x.claim: x for x in check_claims(_paper_like({}))}["0"].verdict == OPEN


def test_a_missing_method_makes_its_claim_not_measured_yet_unless_another_part_fails():
    s = _paper_like({"tcd": 1.0, "rflow": 1.0})
    v = {x.claim: x for x in check_claims(s[s["method"] != "rflow"])}
    assert v["2"].verdict == NOT_RUN and any("missing" in line for line in v["2"].ours)
    assert v["0"].verdict != NOT_RUN          # the teacher and static are there
    v = {x.claim: x for x in check_claims(s[~s["method"].isin(["rflow", "fada_fast"])])}
    assert v["1"].verdict == NOT_RUN and v["4"].verdict == NOT_RUN
    s = _paper_like({"tcd": -1.0, "rflow": 1.0})       # perflow loses to tcd: a part that fails decides
    v = {x.claim: x for x in check_claims(s[s["method"] != "rflow"])}
    assert v["2"].verdict == FAILS
    v = {x.claim: x for x in check_claims(s[~s["method"].isin(["teacher", "static"])])}
    assert v["0"].verdict == NOT_RUN


def test_the_cfg_peak_claim_reads_the_sweep():
    rows = []
    for a, m in [(1.0, 12.0), (4.0, 10.0), (6.5, 8.0), (8.0, 8.2)]:
        rows.append({"method": f"x_a{a}", "cfg_a": a, "cfg_r": 2.0, "metric": "fvd", "backbone": "synthetic",
                     "mean": m, "ci95_low": m - 0.3, "ci95_high": m + 0.3})
    for r, m in [(1.0, 9.5), (1.5, 8.5), (3.0, 9.0)]:
        rows.append({"method": f"x_r{r}", "cfg_a": 6.5, "cfg_r": r, "metric": "fvd", "backbone": "synthetic",
                     "mean": m, "ci95_low": m - 0.3, "ci95_high": m + 0.3})
    v = {x.claim: x for x in check_claims(_paper_like({}), pd.DataFrame(rows))}
    # cfg_a: best inside 8.0 [7.7, 8.3] vs best outside 10.0: better. cfg_r: 8.0 vs 9.0 [8.7, 9.3]: better.
    assert v["5"].verdict == HOLDS
    rows[1]["mean"], rows[1]["ci95_low"], rows[1]["ci95_high"] = 6.0, 5.8, 6.2       # cfg_a 4.0 is best
    v = {x.claim: x for x in check_claims(_paper_like({}), pd.DataFrame(rows))}
    assert v["5"].verdict == FAILS


def test_claims_file_keeps_its_notes_and_training_hours(tmp_path):
    runs = tmp_path / "runs"
    (runs / "teacher_tiny").mkdir(parents=True)
    (runs / "teacher_tiny" / "log.jsonl").write_text(
        '{"step": 10, "sec": 0.5}\n{"step": 20, "sec": 0.7}\n{"step": 20, "sec": 0.9}\n'   # 20 resumed
        '{"step": 30, "sec": 5000.0}\n{"step": 40, "sec": 0.6}\n')     # 30: paused inside the step
    # Steps 10, 20, 30, 40 at 0.5, 0.9, 5000, 0.6 s: 40 steps at the median 0.75 s.
    assert training_hours(runs / "teacher_tiny") == pytest.approx(40 * 0.75 / 3600)
    (runs / "teacher_tiny" / "recipe.json").write_text('{"steps": 100}')   # still training: 40 of 100
    run = tmp_path / "run"
    run.mkdir()
    _paper_like({"tcd": 1.0, "rflow": 1.0}).to_csv(run / "summary.csv", index=False)
    out = tmp_path / "CLAIMS.md"
    args = ["claims", str(run), "--out", str(out), "--training-logs", str(runs)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "| 2 | PeRFlow beats TCD and RFlow at 18 NFE (Table 2) | **holds** |" in text
    assert "| teacher_tiny | 40 of 100 | 0.01 | - |" in text and "| fada_fast_tiny | - | - | - |" in text
    out.write_text(text.replace("(none yet)", "RFlow's single window is why."))
    assert CliRunner().invoke(app, args).exit_code == 0
    assert out.read_text().count("RFlow's single window is why.") == 1
    assert render([], "x").endswith("(none yet)\n")


def test_training_hours_weight_cached_and_live_steps_by_their_share_of_samples(tmp_path):
    # Batch 2, 8 steps: 12 samples read their targets from the cache, 4 computed them live. The
    # logged steps are mostly cached (1 s), so their overall median (1 s) would count the live
    # steps (3 s) at the cached speed; weighted: 8 * (12 * 1 + 4 * 3) / 16 = 12 s.
    run = tmp_path / "r"
    run.mkdir()
    recs = [(1, 3.0, 0, 0, 2), (2, 3.0, 0, 0, 4), (4, 1.0, 1, 4, 4), (6, 1.0, 1, 8, 4), (7, 1.1, 1, 10, 4),
            (8, 0.9, 1, 12, 4)]
    (run / "log.jsonl").write_text("".join(
        f'{{"step": {st}, "sec": {sec}, "cached": {c}, "cached_samples": {cs}, "live_samples": {ls}}}\n'
        for st, sec, c, cs, ls in recs))
    assert training_hours(run) == pytest.approx(8 * (12 * 1.0 + 4 * 3.0) / 16 / 3600)
    # All cached (or a log without the counts): the plain median rule.
    (run / "log.jsonl").write_text('{"step": 4, "sec": 1.0, "cached": 1, "cached_samples": 8, "live_samples": 0}\n'
                                   '{"step": 8, "sec": 2.0, "cached": 1, "cached_samples": 16, "live_samples": 0}\n')
    assert training_hours(run) == pytest.approx(8 * 1.5 / 3600)


def test_training_hardware_names_what_each_stretch_of_steps_ran_on(tmp_path):
    runs = tmp_path / "runs"
    (runs / "r").mkdir(parents=True)
    log = runs / "r" / "log.jsonl"
    log.write_text('{"step": 10, "sec": 1}\n')                                  # an old run: not recorded
    assert training_hardware(runs / "r") == "-"
    log.write_text('{"step": 1, "sec": 2, "device": "cpu", "threads": 2, "compiled": false}\n{"step": 10, "sec": 1}\n')
    assert training_hardware(runs / "r") == "cpu x2"
    with log.open("a") as f:       # resumed at step 11 twice: once alike, once on one thread, compiled
        f.write('{"step": 11, "sec": 2, "device": "cpu", "threads": 2}\n'
                '{"step": 21, "sec": 2, "device": "cpu", "threads": 1, "compiled": true}\n')
    assert training_hardware(runs / "r") == "cpu x2 from step 1; cpu x1 compiled from step 21"
    with log.open("a") as f:       # killed before its next checkpoint, resumed from step 21 on a GPU
        f.write('{"step": 21, "sec": 0.2, "device": "cuda:0", "threads": 16, "compiled": true}\n')
    assert training_hardware(runs / "r") == "cpu x2 from step 1; cuda:0 x16 compiled from step 21"
    log.write_text('{"step": 10, "sec": 1}\n{"step": 11, "sec": 2, "device": "cpu", "threads": 1}\n')
    assert training_hardware(runs / "r") == "not recorded before step 11; cpu x1 from step 11"
    log.write_text('{"step": 1, "sec": 2, "device": "cpu", "processor": "AMD EPYC", "threads": 1}\n')
    assert training_hardware(runs / "r") == "cpu (AMD EPYC) x1"


def test_metrics_beyond_the_paper_are_shown_beside_a_claim_but_never_decide_it():
    s = _paper_like({"static": 1.0})
    extra = pd.DataFrame([
        {"method": "teacher", "metric": "lmd", "backbone": "synthetic", "mean": 0.09, "ci95_low": 0.08,
         "ci95_high": 0.1, "n": 16, "n_failed": 0},
        {"method": "static", "metric": "lmd", "backbone": "synthetic", "mean": 0.05, "ci95_low": 0.04,
         "ci95_high": 0.06, "n": 16, "n_failed": 0}])
    v = {x.claim: x for x in check_claims(pd.concat([s, extra], ignore_index=True))}
    # The teacher loses to static on lmd here, yet claim 0 still holds on Sync-D and E-FID.
    assert v["0"].verdict == HOLDS
    assert v["0"].beyond == ["lmd[synthetic] (lower is better): teacher 0.09 [0.08, 0.1] vs static 0.05 [0.04, 0.06] -> worse"]
    assert v["2"].beyond == []                              # no lmd values for perflow and tcd
    text = render(list(v.values()), "x")
    assert "The same methods beyond the paper (shown, not part of the verdict):" in text


def test_a_claims_pairs_are_shown_paired_over_the_clips_with_scipys_interval_but_never_decide_it():
    import numpy as np
    from scipy import stats

    s = _paper_like({"static": 1.0})
    rng = np.random.default_rng(1)
    hard = rng.normal(1.0, 0.3, 20)                    # each clip's difficulty, shared by both methods
    clips = [f"c{i}" for i in range(20)]
    teacher = hard + rng.normal(0, 0.01, 20)
    static = hard + 0.03 + rng.normal(0, 0.01, 20)      # worse lip sync on every clip
    samples = {"teacher": pd.DataFrame({"sync_d[synthetic]": teacher, "status": "ok"}, index=clips),
               "static": pd.DataFrame({"sync_d[synthetic]": static[::-1], "status": "ok"}, index=clips[::-1])}
    v = {x.claim: x for x in check_claims(s, samples=samples)}
    ci = stats.ttest_rel(teacher, static).confidence_interval()
    diff = float(np.mean(teacher - static))
    assert v["0"].paired == [f"sync_d[synthetic] (lower is better): teacher - static = {diff:.4g} "
                             f"[{ci.low:.4g}, {ci.high:.4g}] over 20 clips -> better"]
    assert v["0"].verdict == check_claims(s)[0].verdict       # the verdict is the same without them
    assert v["2"].paired == []                                 # no per-sample values for perflow and tcd
    assert "paired over the clips both scored" in render(list(v.values()), "x")


def test_a_claims_pairs_are_shown_on_per_set_metrics_paired_over_the_bootstrap_resamples():
    import numpy as np

    s = _paper_like({"static": 1.0})                   # FVD: teacher 10, static 11 (lower is better)
    rng = np.random.default_rng(2)
    common = rng.normal(0.0, 2.0, 200)                 # each resample's clips move both methods alike
    t_reps, s_reps = 10 + common + rng.normal(0, 0.05, 200), 11 + common + rng.normal(0, 0.05, 200)
    reps = {"teacher": {("fvd", "synthetic"): ("f" * 16, t_reps)},
            "static": {("fvd", "synthetic"): ("f" * 16, s_reps)},
            "perflow": {("fvd", "synthetic"): ("0" * 16, t_reps)},     # other clips: never paired
            "tcd": {("fvd", "synthetic"): ("f" * 16, s_reps)}}
    v = {x.claim: x for x in check_claims(s, replicates=reps)}
    lo, hi = np.percentile(t_reps - s_reps, [2.5, 97.5])
    assert v["0"].paired_sets == [f"fvd[synthetic] (lower is better): teacher - static = -1 [{lo:.4g}, {hi:.4g}] "
                                  "over 200 resamples of the same 16 clips -> better"]
    assert v["0"].verdict == check_claims(s)[0].verdict        # shown, never counted
    assert v["2"].paired_sets == []
    assert "paired over the bootstrap resamples both rows kept of the same clips" in render(list(v.values()), "x")
