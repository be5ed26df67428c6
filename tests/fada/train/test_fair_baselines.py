"""Fair baselines: RFlow trained by velocity matching (its own parameterisation), the Table 4
recipes from one parent, and the mixed-supervision ratio logged per tier and defect."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fada.losses.perflow import epsilon_target, interpolate, velocity_target
from fada.schedulers.scheduling_perflow import PeRFlowScheduler, window_coefficients
from fada.train.ratio_log import quantile_table, ratio_quantiles
from fada.train.recipe import RECIPES_DIR, load_recipe
from fada.train.trainer import train

SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear")


def test_velocity_target_is_the_lines_derivative():
    g = torch.Generator().manual_seed(0)
    z_start, z_end = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    t_start, t_end = torch.tensor([1.0, 0.75, 0.5], dtype=torch.float64), torch.tensor([0.75, 0.5, 0.25], dtype=torch.float64)
    t, h = t_start - 0.1, 1e-3
    fd = (interpolate(z_start, z_end, t - h, t_start, t_end) - interpolate(z_start, z_end, t, t_start, t_end)) / -h
    torch.testing.assert_close(velocity_target(z_start, z_end, t_start, t_end), fd, rtol=1e-3, atol=1e-3)
    # RFlow (one window from t = 1 to 0): the velocity is the start minus the end, noise minus data
    torch.testing.assert_close(velocity_target(z_start, z_end, torch.ones(3), torch.zeros(3)), z_start - z_end)


@pytest.mark.parametrize("windows,steps", [(1, 6), (4, 6)])
def test_a_velocity_student_samples_the_same_line_as_its_epsilon(windows, steps):
    """Analytic case: a model whose every point lies on the line from z_start to
    z_end = lam z_start + eta eps (Eq. 4). Given as epsilon or as velocity, the sampler must take the
    same steps and predict the same clean sample."""
    eps_s = PeRFlowScheduler(**SCHEDULE, num_windows=windows, prediction_type="epsilon")
    vel_s = PeRFlowScheduler(**SCHEDULE, num_windows=windows, prediction_type="flow_velocity")
    eps_s.set_timesteps(steps)
    vel_s.set_timesteps(steps)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64)
    z_eps = z_vel = z
    eps = None                  # drawn at each window start (s == 0), kept inside the window
    for i, tau in enumerate(eps_s.timesteps):
        k, s, _ = eps_s._plan[i]
        t0, t1 = eps_s.window_bounds(k)
        eps = torch.randn(z.shape, generator=g, dtype=torch.float64) if s == 0 else eps
        # the line through the current point with this epsilon (the sampler's own inversion)
        lam, eta = window_coefficients(eps_s.alpha(t0), eps_s.alpha(t1))
        z_end = (z_eps + (1 - s) * eta * eps / lam) / ((1 - s) / lam + s)
        z_start = (z_end - eta * eps) / lam
        v = (z_end - z_start) / (t1 - t0)
        out_e = eps_s.step(eps, tau, z_eps)
        out_v = vel_s.step(v, tau, z_vel)
        torch.testing.assert_close(out_v.prev_sample, out_e.prev_sample)
        torch.testing.assert_close(out_v.pred_original_sample, out_e.pred_original_sample)
        z_eps, z_vel = out_e.prev_sample, out_v.prev_sample
        # and Eq. 4's epsilon of that line is the one the epsilon model gave
        torch.testing.assert_close(epsilon_target(z_start, z_end, eps_s.alpha(t0), eps_s.alpha(t1)), eps)


def test_rflow_velocity_recipe_trains_and_saves_a_velocity_sampler(small_world, tmp_path):
    from fada.models.bundle import build_models, load_models
    from fada.pipeline import make_scheduler

    teacher = tmp_path / "teacher"
    build_models("tiny", seed=5).save(teacher)
    base = {"include": str(RECIPES_DIR / "rflow_v_tiny.yaml"), "steps": 2, "checkpoint_every": 100, "log_every": 1,
            "data": {"folder": str(small_world[0]), "tiers": ["A", "B"], "n_frames": 4, "windows_per_clip": 1},
            "optim": {"batch_size": 2, "warmup_steps": 1}, "objective": {"teacher": str(teacher), "phi_steps": 2}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(base))
    r = load_recipe(tmp_path / "r.yaml")
    assert r.kind == "rflow" and r.objective.parameterisation == "velocity"
    final = train(r, tmp_path / "out")
    log = [json.loads(x) for x in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(np.isfinite(x["loss"]) for x in log)
    m = load_models(final)
    assert m.schedule["prediction_type"] == "flow_velocity"
    assert make_scheduler("rflow", m.schedule).config.prediction_type == "flow_velocity"


def test_an_unknown_parameterisation_is_refused_when_the_recipe_is_read(tmp_path):
    from fada.errors import InputError

    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "rflow_v_tiny.yaml"),
                                                     "objective": {"parameterisation": "velocty"}}))
    with pytest.raises(InputError, match="parameterisation 'velocty'.*velocity"):
        load_recipe(tmp_path / "r.yaml")


def test_table4_variants_start_from_one_parent_with_one_budget():
    rows = [load_recipe(n) for n in ("cfg_time_embed_tiny", "cfg_layer_tiny", "fada_fast_tiny")]
    same = {(r.parent, r.steps, r.seed, r.optim.lr, r.optim.batch_size, r.data.tiers == ("A", "B"),
             json.dumps({k: v for k, v in dataclasses.asdict(r.objective).items() if k != "cfg_mode"},
                        sort_keys=True, default=str)) for r in rows}
    assert len(same) == 1
    assert [r.objective.cfg_mode for r in rows] == ["time_embed", "layer", "layer_tokens"]
    # what the shipped FADA-Fast was trained with
    assert rows[2].parent == "runs/fada_balanced_tiny/model" and rows[2].steps == 4000


def test_ratio_quantiles_per_tier_and_defect(tmp_path):
    rng = np.random.default_rng(0)
    recs, rows = [], []
    for step in range(30):
        tiers = list(rng.choice(["A", "B"], 4))
        defects = [[] if t == "A" else list(rng.choice(["offset", "blur", "mismatched_audio"], rng.integers(1, 3), replace=False))
                   for t in tiers]
        r = rng.lognormal(size=4)
        recs.append({"step": step + 1, "R_samples": r.tolist(), "R_tier": tiers, "R_defects": defects})
        rows += [(x, t, set(d)) for x, t, d in zip(r, tiers, defects)]
    log = tmp_path / "log.jsonl"
    # Steps 21-30 logged twice, as when a run resumes from its step-20 checkpoint: counted once.
    log.write_text("\n".join(json.dumps(x) for x in recs + recs[20:]) + "\nnot json\n")
    got = ratio_quantiles(log).set_index("group")
    df = pd.DataFrame(rows, columns=["R", "tier", "defects"])

    def expect(mask):
        return np.quantile(df["R"][mask], [0.1, 0.5, 0.9])
    for group, mask in {"all": df["R"] > -1, "tier B": df["tier"] == "B", "clean": df["defects"].map(len) == 0,
                        "defect offset": df["defects"].map(lambda d: "offset" in d),
                        "sync defect": df["defects"].map(lambda d: bool(d & {"offset", "mismatched_audio"}))}.items():
        np.testing.assert_allclose(got.loc[group, ["q10", "q50", "q90"]].to_numpy(float), expect(mask), err_msg=group)
        assert got.loc[group, "n"] == mask.sum()
    assert got.loc["defect frozen_motion", "n"] == 0 and np.isnan(got.loc["defect frozen_motion", "q50"])
    # the share at or past R_p = 30, where W falls (Eqs. 7-8): 2 of the 4 clean samples here
    table = quantile_table(pd.DataFrame({"R": [1.0, 29.9, 30.0, 250.0, 40.0], "tier": ["A", "A", "A", "A", "B"],
                                         "defects": [(), (), (), (), ("offset",)]})).set_index("group")
    assert table.loc["clean", "past_r_peak"] == 0.5 and table.loc["sync defect", "past_r_peak"] == 1.0
    assert table.loc["all", "past_r_peak"] == 0.6 and np.isnan(table.loc["defect blur", "past_r_peak"])
    assert quantile_table(pd.DataFrame(columns=["R", "tier", "defects"])).loc[0, "n"] == 0


def test_mixed_supervision_logs_each_samples_ratio_with_its_tier_and_defects(small_world, tmp_path):
    from fada.models.bundle import build_models

    teacher = tmp_path / "teacher"
    build_models("tiny", seed=5).save(teacher)
    base = {"include": str(RECIPES_DIR / "fada_balanced_tiny.yaml"), "steps": 2, "checkpoint_every": 100,
            "log_every": 1, "data": {"folder": str(small_world[0]), "tiers": ["A", "B"], "n_frames": 4,
                                     "windows_per_clip": 1},
            "optim": {"batch_size": 2, "warmup_steps": 1}, "objective": {"teacher": str(teacher), "phi_steps": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(base))
    train(load_recipe(tmp_path / "r.yaml"), tmp_path / "out")
    log = [json.loads(x) for x in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    manifest = pd.read_parquet(small_world[0] / "manifest.parquet").set_index("tier")
    for rec in log:
        assert len(rec["R_samples"]) == len(rec["R_tier"]) == len(rec["R_defects"]) == 2
        assert np.isclose(np.mean(rec["R_samples"]), rec["R"])
        assert set(rec["R_tier"]) <= set(manifest.index)
    assert ratio_quantiles(tmp_path / "out" / "log.jsonl").set_index("group").loc["all", "n"] == 4


def _claims_summary(shifts: dict[str, float]) -> pd.DataFrame:
    """Every metric of each method at 10 + shift (IQA: 10 - shift), intervals +-0.1: lower shift is better."""
    keys = {"iqa": True, "sync_d": False, "fvd": False, "fid": False, "efid": False}
    rows = []
    for m, d in shifts.items():
        for k, higher in keys.items():
            v = 10 - d if higher else 10 + d
            rows.append({"method": m, "metric": k, "backbone": "synthetic", "mean": v, "ci95_low": v - 0.1,
                         "ci95_high": v + 0.1, "n": 16, "n_failed": 0})
    return pd.DataFrame(rows)


def test_claim2_takes_the_better_rflow_and_says_whether_the_choice_matters():
    from fada_bench.claims import check_claims

    def claim2(shifts):
        return next(v for v in check_claims(_claims_summary(shifts)) if v.claim == "2")

    # velocity RFlow beats epsilon RFlow, and PeRFlow beats only the epsilon one: the choice decides
    c = claim2({"perflow": 0.0, "tcd": 1.0, "rflow": 1.0, "rflow_v": -1.0})
    assert c.ours[0].startswith("RFlow row: rflow_v") and c.verdict == "does not hold"
    assert "would be: holds" in c.ours[-1] and "claim 2 depends" in c.ours[-1]
    # both RFlows worse than PeRFlow: the claim holds either way
    c = claim2({"perflow": 0.0, "tcd": 1.0, "rflow": 2.0, "rflow_v": 1.0})
    assert c.verdict == "holds" and "does not depend" in c.ours[-1]
    # only the epsilon one measured: the line says the dependence is unknown
    c = claim2({"perflow": 0.0, "tcd": 1.0, "rflow": 2.0})
    assert c.verdict == "holds" and "rflow_v not measured yet" in c.ours[0]


def test_claim4_is_not_comparable_when_its_variants_started_apart():
    from fada_bench.claims import NOT_COMPARABLE, check_claims

    s = _claims_summary({"fada_fast": 0.0, "cfg_time_embed": 1.0, "cfg_layer": 1.0, "no_cfg_distill": 2.0,
                         "fada_balanced": 0.0})
    alike = {r: {"parent_sha256": "p" * 64, "steps": "4000 of 4000"}
             for r in ("cfg_time_embed_tiny", "cfg_layer_tiny", "fada_fast_tiny")}
    assert next(v for v in check_claims(s, None, alike) if v.claim == "4").verdict == "holds"
    apart = {**alike, "fada_fast_tiny": {"parent_sha256": "q" * 64, "steps": "4000 of 4000"}}
    c = next(v for v in check_claims(s, None, apart) if v.claim == "4")
    assert c.verdict == NOT_COMPARABLE and "start points differ" in c.ours[0]
    shorter = {**alike, "cfg_layer_tiny": {"parent_sha256": "p" * 64, "steps": "2000 of 4000"}}
    assert next(v for v in check_claims(s, None, shorter) if v.claim == "4").verdict == NOT_COMPARABLE
    c = next(v for v in check_claims(s) if v.claim == "4")
    assert c.verdict == "holds" and "not recorded" in c.ours[0]
    assert c.caveat == "start points not recorded for cfg_time_embed_tiny, cfg_layer_tiny, fada_fast_tiny"
    unknown = {**alike, "fada_fast_tiny": {"steps": "4000 of 4000"}}      # the shipped FADA-Fast's row
    c = next(v for v in check_claims(s, None, unknown) if v.claim == "4")
    assert c.verdict == "holds" and c.caveat == "start points not recorded for fada_fast_tiny"
    assert next(v for v in check_claims(s, None, alike) if v.claim == "4").caveat == ""
    # the table shows it beside the verdict; a verdict the records overturn needs none
    from fada_bench.claims.render import render
    assert "| **holds** (start points not recorded for fada_fast_tiny) |" in render(check_claims(s, None, unknown), "cmd")
    assert next(v for v in check_claims(s, None, apart) if v.claim == "4").caveat == ""
    # the gap is measured against the FADA-Balanced row: the variants' parent must be its checkpoint
    rows = {"fada_balanced": {"checkpoint": "p" * 64, "teacher": None}}
    assert next(v for v in check_claims(s, None, alike, lineage=rows) if v.claim == "4").verdict == "holds"
    rows = {"fada_balanced": {"checkpoint": "q" * 64, "teacher": None}}
    c = next(v for v in check_claims(s, None, alike, lineage=rows) if v.claim == "4")
    assert c.verdict == NOT_COMPARABLE
    assert any(f"not the checkpoint the fada_balanced row scored ({'q' * 12})" in x for x in c.ours)


def test_a_claim_is_not_comparable_when_its_students_came_from_another_teacher():
    from fada_bench.claims import NOT_COMPARABLE, check_claims

    s = _claims_summary({"teacher": 0.0, "perflow": 0.0, "tcd": 1.0, "rflow": 1.0})
    t, u = "t" * 64, "u" * 64
    one = {"teacher": {"checkpoint": t, "teacher": None}, "perflow": {"checkpoint": "p" * 64, "teacher": t},
           "tcd": {"checkpoint": "c" * 64, "teacher": t}, "rflow": {"checkpoint": "r" * 64, "teacher": t}}

    def claim2(lineage):
        return next(v for v in check_claims(s, lineage=lineage) if v.claim == "2")
    c = claim2(one)
    assert c.verdict == "holds" and c.ours[0] == f"teacher: perflow, tcd, rflow distilled from {t[:12]} (the teacher row's checkpoint)"
    # TCD retrained from another teacher: the rows are not compared as equals, and the line names it
    c = claim2({**one, "tcd": {"checkpoint": "c" * 64, "teacher": u}})
    assert c.verdict == NOT_COMPARABLE and c.ours[0].startswith("teachers differ") and f"tcd from {u[:12]}" in c.ours[0]
    # all three from another teacher than the teacher row's checkpoint: not comparable either
    c = claim2({**one, "teacher": {"checkpoint": u, "teacher": None}})
    assert c.verdict == NOT_COMPARABLE
    # a row without a record is not judged, and says so; without lineage nothing changes
    c = claim2({**one, "rflow": {"checkpoint": "r" * 64, "teacher": None}})
    assert c.verdict == "holds" and "not recorded for rflow" in c.ours[1]
    assert c.caveat == "teacher not recorded for rflow" and claim2(one).caveat == ""
    assert claim2(None).verdict == "holds" and not any(x.startswith("teacher") for x in claim2(None).ours)
    # a claim with a row missing stays "not measured yet" whatever the teachers
    missing = next(v for v in check_claims(s, lineage={**one, "fada_balanced": {"checkpoint": "b" * 64, "teacher": u}})
                   if v.claim == "1")
    assert missing.verdict == "not measured yet"


def test_the_ratio_probe_measures_r_per_clip_without_training(small_world, tmp_path):
    from fada.models.bundle import build_models
    from fada.train.ratio_log import probe_ratios

    teacher = tmp_path / "teacher"
    build_models("tiny", seed=5).save(teacher)
    base = {"include": str(RECIPES_DIR / "fada_balanced_tiny.yaml"),
            "data": {"folder": str(small_world[0]), "tiers": ["A", "B"], "n_frames": 4},
            "objective": {"teacher": str(teacher), "phi_steps": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(base))
    samples = probe_ratios(load_recipe(tmp_path / "r.yaml"), n_clips=5, batch_size=2)
    assert len(samples) == 5 and (samples["R"] > 0).all()
    manifest = pd.read_parquet(small_world[0] / "manifest.parquet")
    assert set(samples["tier"]) <= set(manifest["tier"])


def test_ratio_probe_command_writes_the_clips_r_for_claims(small_world, tmp_path):
    from typer.testing import CliRunner

    from fada.errors import InputError
    from fada.models.bundle import build_models
    from fada.train.ratio_log import probe_ratios, read_ratio_csv
    from fada_bench.cli import app

    teacher = tmp_path / "teacher"
    build_models("tiny", seed=5).save(teacher)
    recipe = {"include": str(RECIPES_DIR / "fada_balanced_tiny.yaml"), "data": {"n_frames": 4},
              "objective": {"phi_steps": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "probe" / "r.csv"
    res = CliRunner().invoke(app, ["ratio-probe", str(tmp_path / "r.yaml"), "--clips", "3", "--out", str(out),
                                   "--teacher", str(teacher), "--data", str(small_world[0])])
    assert res.exit_code == 0, res.output
    assert f"({3} clips)" in res.output and "sync defect" in res.output
    # the same draw as the function with the overrides written into the recipe, through the file
    direct = {**recipe, "data": {"folder": str(small_world[0]), "n_frames": 4},
              "objective": {"teacher": str(teacher), "phi_steps": 1}}
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(direct))
    expected = probe_ratios(load_recipe(tmp_path / "d.yaml"), n_clips=3)
    written = read_ratio_csv(out)
    np.testing.assert_allclose(written["R"], expected["R"], rtol=1e-6)
    assert list(written["tier"]) == list(expected["tier"])
    # a recipe without mixed supervision has no R: a clear error before any checkpoint loads, no file
    res = CliRunner().invoke(app, ["ratio-probe", "perflow_tiny", "--out", str(tmp_path / "p.csv")])
    assert isinstance(res.exception, InputError) and "R needs a mixed-supervision recipe" in str(res.exception)
    assert not (tmp_path / "p.csv").exists()


def test_claim3_is_not_testable_where_sync_defects_do_not_raise_r(tmp_path):
    from fada_bench.claims import NOT_TESTABLE, check_claims
    from fada.train.ratio_log import read_ratio_csv, write_ratio_csv

    rng = np.random.default_rng(0)
    s = _claims_summary({"perflow": 1.0, "student_b_fixed0": 1.0, "fada_balanced": 0.0})

    def claim3(r_clean, r_sync):
        df = pd.DataFrame({"R": np.r_[r_clean, r_sync], "tier": ["A"] * len(r_clean) + ["B"] * len(r_sync),
                           "defects": [()] * len(r_clean) + [("offset",)] * (len(r_sync) // 2)
                           + [("mismatched_audio", "blur")] * (len(r_sync) - len(r_sync) // 2)})
        write_ratio_csv(df, tmp_path / "r.csv")           # through the file, as `claims --ratio-probe` reads it
        return [v for v in check_claims(s, ratios=read_ratio_csv(tmp_path / "r.csv")) if v.claim in ("3a", "3b")]

    r = rng.lognormal(size=40)
    same = claim3(r, rng.permutation(r))                  # the same values: no shift at all
    assert all(v.verdict == NOT_TESTABLE for v in same) and "does not hold here" in same[0].ours[0]
    larger = claim3(rng.lognormal(size=40), rng.lognormal(size=40) + 3.0)
    assert larger[0].verdict != NOT_TESTABLE and "holds here" in larger[0].ours[0]
    assert any(x.startswith("defect offset: n 20") for x in larger[0].ours)
    # without a measurement the claim is judged as before, and says the premise is unmeasured
    plain = next(v for v in check_claims(s) if v.claim == "3a")
    assert plain.verdict != NOT_TESTABLE and "not measured" in plain.ours[0]


def test_the_premise_reads_r_from_a_mixed_supervision_rows_training_log_as_from_a_probe(tmp_path):
    from fada.errors import InputError
    from fada.train.ratio_log import ratio_samples, read_ratios, write_ratio_csv

    recs = [{"step": 10, "R_samples": [1.0, 5.0], "R_tier": ["A", "B"], "R_defects": [[], ["offset"]]},
            {"step": 20, "R_samples": [2.0, 9.0], "R_tier": ["A", "B"], "R_defects": [[], ["blur", "mismatched_audio"]]},
            {"step": 20, "R_samples": [3.0, 7.0], "R_tier": ["A", "B"], "R_defects": [[], ["noise"]]}]   # resumed: counts once
    row = tmp_path / "row"
    row.mkdir()
    (row / "log.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    from_log = read_ratios(row)
    assert list(from_log["R"]) == [1.0, 5.0, 3.0, 7.0] and from_log["defects"].iloc[1] == ("offset",)
    write_ratio_csv(ratio_samples([recs[0], recs[2]]), tmp_path / "r.csv")
    pd.testing.assert_frame_equal(read_ratios(tmp_path / "r.csv"), from_log)
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="no training log recording R per sample"):
        read_ratios(tmp_path / "none")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a file of R per clip"):
        read_ratios(tmp_path / "bad.csv")
