"""`fada-bench sweep`: the CFG sweep behind Figures 3-4 (one run, one card per grid point, PNG and
SVG figures) and the table sweeps (rows found by the cards' paper field, missing checkpoints
trained in dependency order)."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fada.errors import InputError
from fada_bench import sweep as sw
from fada_bench.registry import METHODS
from fada_bench.weight_files import shipped
from harness_util import bench_env


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The tiny suite, and a random tiny FADA-Fast student (CFG layer with tokens) as the checkpoint."""
    from fada.models.bundle import FadaModels, build_models
    from fada.models.denoiser import FadaDenoiser

    root = tmp_path_factory.mktemp("sweep")
    e = {**bench_env(root), "FADA_BENCH_CHECKPOINTS": str(root / "runs")}
    old = {k: os.environ.get(k) for k in e}
    os.environ.update(e)
    t = build_models("tiny", seed=0)
    student = FadaDenoiser.student_from_teacher(t.denoiser, "layer_tokens")
    with torch.no_grad():   # the CFG layer starts at zero (student = teacher); make the scales matter
        for p in student.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    fast = FadaModels("tiny", student, t.reference_net, t.vae, t.audio_encoder, t.schedule)
    fast.save(root / "runs" / "fada_fast_tiny" / "model")
    yield root
    for k, v in old.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_cfg_grid_holds_one_scale_at_the_paper_default():
    grid = sw.cfg_grid([1.0, 6.5], [1.0, 2.0])
    assert grid == [(1.0, 2.0), (6.5, 2.0), (6.5, 1.0)]      # (6.5, 2.0) once


def test_cfg_sweep_runs_every_point_and_draws_both_figures(env):
    out = env / "cfg"
    result, paths = sw.run_cfg_sweep("fada_fast", "synthetic", out, limit=2, a_values=(1.0,), r_values=(1.0,),
                                     metrics=("fvd", "sync_d"))
    assert result.n_failed == 0, result.failures
    table = pd.read_csv(out / "sweep.csv")
    assert set(table["method"]) == {"fada_fast_a1_r2", "fada_fast_a6.5_r1"}
    assert set(table["metric"]) == {"fvd", "sync_d"} and table["mean"].notna().all()
    # each point really was generated with its own scales: the videos differ between points
    from fada.data.io import read_video

    sid = sorted(p.stem for p in (out / "videos" / "fada_fast_a1_r2").glob("*.mp4"))[0]
    v1 = read_video(out / "videos" / "fada_fast_a1_r2" / f"{sid}.mp4").frames.astype(float)
    v2 = read_video(out / "videos" / "fada_fast_a6.5_r1" / f"{sid}.mp4").frames.astype(float)
    assert np.abs(v1 - v2).mean() > 0.1
    for stem in ("figure3_cfg_a", "figure4_cfg_r"):
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        assert png in paths and svg in paths
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ET.parse(svg)                                            # well-formed SVG
    assert not any(n.startswith("fada_fast_a") for n in METHODS.names())   # variants unregistered
    # speed is recorded per sample (stages, first-clip latency, memory, device) and summarised
    samples = pd.read_parquet(out / "samples.parquet")
    for col in ("first_clip_latency_s", "peak_mem_gb", "sec_denoise", "sec_vae_decode", "sec_reference_net",
                "sec_audio_encoder", "sec_vae_encode"):
        assert samples[col].notna().all() and (samples[col] >= 0).all(), col
    assert set(samples["device"]) == {"cpu"} and set(samples["dtype"]) == {"float32"}
    assert set(samples["resolution"]) == {64}
    stages = samples[[c for c in samples.columns if c.startswith("sec_") and c != "sec_per_video_sec"]].sum(axis=1)
    assert (stages <= samples["gen_seconds"] * 1.001).all()              # the stages happen inside generation
    summary = pd.read_csv(out / "summary.csv")
    for metric in ("sec_per_video_sec", "first_clip_latency_s", "peak_mem_gb"):
        assert (summary["metric"] == metric).sum() == 2, metric
    # a second sweep on the same folder resumes: nothing is generated again
    before = {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")}
    sw.run_cfg_sweep("fada_fast", "synthetic", out, limit=2, a_values=(1.0,), r_values=(1.0,),
                     metrics=("fvd", "sync_d"))
    assert before == {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")}


def test_cfg_sweep_refuses_a_method_without_guidance():
    with pytest.raises(InputError, match="sweep cfg needs a FADA method"):
        sw.cfg_variants(METHODS.get("static"), [(6.5, 2.0)])


def test_table_rows_come_from_the_cards_paper_field():
    names = {c.name for c in sw.table_cards(2)}
    assert {"tcd", "rflow", "perflow", "teacher"} <= names
    t4 = {c.name for c in sw.table_cards(4)}
    assert {"fada_fast", "cfg_layer", "cfg_time_embed"} <= t4


def test_training_order_puts_each_checkpoint_after_what_it_starts_from():
    order = sw.training_order(["fada_fast_tiny", "perflow_tiny"])
    assert order.index("vae_tiny") < order.index("teacher_tiny") < order.index("fada_balanced_tiny") \
        < order.index("fada_fast_tiny")
    assert order.index("teacher_tiny") < order.index("perflow_tiny")
    assert len(order) == len(set(order))


def test_train_missing_skips_existing_checkpoints(env, monkeypatch):
    import fada.train.trainer as trainer

    calls = []
    monkeypatch.setattr(trainer, "train", lambda r, out, progress=None: calls.append((r.name, r.parent, getattr(r.objective, "teacher", None))))
    for name in ("vae_tiny", "teacher_tiny"):
        (env / "runs" / name / "model").mkdir(parents=True, exist_ok=True)
        (env / "runs" / name / "model" / "fada.json").write_text("{}")
    trained = sw.train_missing(["fada_fast_tiny", "perflow_tiny"])
    # fada_fast_tiny's checkpoint exists (the fixture's), so nothing needs its parent: only perflow trains
    assert trained == ["perflow_tiny"]
    assert calls[0][2] == str(env / "runs" / "teacher_tiny" / "model")     # runs/ read as the checkpoints folder


def _trained_here(root, *names):
    for name in names:
        (root / name / "model").mkdir(parents=True, exist_ok=True)
        (root / name / "model" / "fada.json").write_text("{}")


def test_a_sweep_uses_shipped_checkpoints_only_where_nothing_they_were_made_from_is_trained(monkeypatch, tmp_path):
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    assert shipped.is_shipped("teacher_tiny/model") and shipped.is_shipped("fada_balanced_tiny/model") \
        and shipped.is_shipped("fada_fast_tiny/model") and not shipped.is_shipped("vae_tiny/model")

    def states(table):
        return {st["recipe"]: st["state"] for st in sw.training_plan(sw.table_recipes(table))}

    # Nothing trained here: the shipped teacher stands (its VAE ships inside it, so vae_tiny is
    # not needed); shipped rows stand unless a row to train starts from them.
    t2 = states(2)
    assert t2["teacher_tiny"] == "shipped" and "vae_tiny" not in t2 and t2["teacher_b_tiny"] == "to train"
    t3 = states(3)
    assert t3["fada_balanced_tiny"] == "shipped" and t3["fixed_1p0_tiny"] == "to train"
    # Table 4: the CFG variants train from the trained parent, so it is trained, and the shipped
    # FADA-Fast is trained again from it: all three start from the same parent.
    t4 = states(4)
    assert t4 == {"teacher_tiny": "shipped", "fada_balanced_tiny": "to train", "cfg_layer_tiny": "to train",
                  "cfg_time_embed_tiny": "to train", "fada_fast_tiny": "to train"}
    # A teacher trained here: the students shipped with the package were distilled from another one.
    _trained_here(tmp_path / "runs", "teacher_tiny")
    t3 = states(3)
    assert t3["teacher_tiny"] == "trained" and t3["fada_balanced_tiny"] == "to train" and "vae_tiny" not in t3
    # A parent trained here: FADA-Fast (shipped) is trained from it beside the other CFG rows.
    _trained_here(tmp_path / "runs", "fada_balanced_tiny")
    t4 = states(4)
    assert t4["fada_balanced_tiny"] == "trained" and t4["fada_fast_tiny"] == "to train"
    # A row trained here is kept as it is.
    _trained_here(tmp_path / "runs", "fada_fast_tiny")
    assert states(4)["fada_fast_tiny"] == "trained"


def test_table_sweep_command_trains_missing_rows_then_writes_the_table(env, monkeypatch, tmp_path):
    # The command line end to end: the missing checkpoints are trained in order (a stand-in trainer
    # here), rows whose checkpoint is still missing fail with the fix, the anchors run, the table
    # is written with the paper's numbers.
    from typer.testing import CliRunner

    import fada.train.trainer as trainer
    from fada_bench.cli import app

    trained, teachers = [], {}

    def fake_train(r, out, progress=None):
        trained.append(r.name)
        teachers[r.name] = getattr(r.objective, "teacher", None)
        progress(1, 2, 0.5)
    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    res = CliRunner().invoke(app, ["sweep", "table2", "--limit", "1", "--metrics", "sync_d",
                                   "--out", str(tmp_path / "t2")], terminal_width=200)
    assert res.exit_code == 0, res.output + repr(res.exception)
    # The shipped teacher is used as shipped (not retrained), and the rows distil from it.
    assert "vae_tiny" not in trained and "teacher_tiny" not in trained and "tcd_tiny" in trained
    assert (Path(teachers["tcd_tiny"]) / "fada.json").is_file()
    assert Path(teachers["tcd_tiny"]) == shipped.model_folder("teacher_tiny/model")
    table = (tmp_path / "t2" / "table2.md").read_text()
    assert "81.10" in table and "static" in table


def test_a_table_sweeps_plan_lists_what_it_would_train_and_score_and_does_nothing(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import fada.train.trainer as trainer
    from fada_bench.cli import app

    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("--plan trained"))
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    for name in ("vae_tiny", "teacher_tiny"):
        (tmp_path / "runs" / name / "model").mkdir(parents=True)
        (tmp_path / "runs" / name / "model" / "fada.json").write_text("{}")
    (tmp_path / "runs" / "tcd_tiny" / "checkpoint").mkdir(parents=True)       # a run stopped at step 1200
    torch.save({"step": 1200, "params": {"w": torch.zeros(3)}}, tmp_path / "runs" / "tcd_tiny" / "checkpoint" / "state.pt")
    plan = {st["recipe"]: st for st in sw.training_plan(sw.table_recipes(2), tmp_path / "cache")}
    assert [n for n, st in plan.items() if st["have"]] == ["vae_tiny", "teacher_tiny"]
    assert plan["tcd_tiny"]["resumes_at"] == 1200 and plan["perflow_tiny"]["resumes_at"] is None
    assert plan["rflow_v_tiny"]["after"] == ["teacher_tiny"] and plan["rflow_v_tiny"]["cache"]  # the variant row trains too
    assert not plan["tcd_tiny"]["cache"] and plan["teacher_b_tiny"]["steps"] == 20000
    res = CliRunner().invoke(app, ["sweep", "table2", "--plan", "--out", str(tmp_path / "t2")], terminal_width=200)
    assert res.exit_code == 0, res.output + repr(res.exception)
    todo = [n for n, st in plan.items() if not st["have"]]
    left = sum(st["steps"] for st in plan.values() if not st["have"]) - 1200
    assert f"{len(todo)} of {len(plan)} checkpoints to train ({left} steps left)" in res.output and "rflow_v" in res.output
    assert "resumes at step 1200" in res.output
    assert not (tmp_path / "t2").exists()
    res = CliRunner().invoke(app, ["sweep", "cfg", "--plan"])
    assert isinstance(res.exception, InputError) and "table sweeps" in str(res.exception)


def test_a_table_sweep_with_rows_keeps_the_scored_rows_and_makes_only_the_others(env, monkeypatch, tmp_path):
    # --rows: a first sweep scores every row and saves them; a second finds them all and trains and
    # scores nothing; with one row removed, only that row is scored again and saved back.
    from typer.testing import CliRunner

    import fada.train.trainer as trainer
    from fada_bench.cli import app

    trained = []
    monkeypatch.setattr(trainer, "train", lambda r, out, progress=None: trained.append(r.name))
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    rows = tmp_path / "rows"

    def sweep(*extra):
        res = CliRunner().invoke(app, ["sweep", "table2", "--limit", "1", "--metrics", "sync_d", "--rows", str(rows),
                                       "--out", str(tmp_path / "t2"), *extra], terminal_width=200)
        assert res.exit_code == 0, res.output + repr(res.exception)
        return " ".join(res.output.split())

    sweep()
    made = sorted(p.name for p in rows.iterdir())
    # The stand-in trainer writes no checkpoint, so the trained rows fail every sample and are not
    # saved as rows (the next sweep makes them again); the teacher and the anchors are.
    assert {"teacher", "static", "ground_truth"} <= set(made) and "tcd" not in made and "tcd_tiny" in trained
    def stamps():       # a row saved again is a new file (written atomically: another inode)
        return {m: (os.stat(rows / m / "identity.json").st_ino, os.stat(rows / m / "identity.json").st_mtime_ns)
                for m in made}
    stamp = stamps()
    trained.clear()
    plan = sweep("--plan")
    kept = plan.split("kept from")[1].split("checkpoints to train")[0]
    to_score = plan.split("score on synthetic into")[1].split("saved into")[0]
    assert "teacher" in kept and "static" in kept and "tcd" not in kept
    assert "tcd" in to_score and "static" not in to_score
    # Only the failed rows are made again: the rows saved are not touched.
    monkeypatch.setattr(sw, "table_methods", lambda table: made)
    assert "already holds every row" in sweep() and trained == []
    assert stamps() == stamp
    for p in (rows / "static").iterdir():
        p.unlink()
    (rows / "static").rmdir()
    out = sweep()
    assert trained == [] and "saved the new rows" in out
    after = stamps()
    assert [m for m in made if after[m] != stamp[m]] == ["static"]
    assert "static" in (tmp_path / "t2" / "table2.md").read_text()
    # Rows scored on other settings are not mixed with this sweep's.
    res = CliRunner().invoke(app, ["sweep", "table2", "--limit", "2", "--metrics", "sync_d", "--rows", str(rows),
                                   "--plan"], terminal_width=200)
    assert isinstance(res.exception, InputError) and "limit 1" in str(res.exception) and "another --rows" in str(res.exception)


def test_the_plan_says_when_a_kept_rows_checkpoint_is_trained_again(monkeypatch, tmp_path):
    # On a machine without checkpoints, Table 4's missing CFG rows need FADA-Balanced's checkpoint
    # as their parent: the plan trains it again and says that its kept row scored another one.
    import shutil

    from typer.testing import CliRunner

    from fada_bench.cli import app

    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    committed = Path(__file__).resolve().parents[2] / "results" / "synthetic" / "rows"
    for m in ("no_cfg_distill", "teacher", "static"):     # no_cfg_distill: FADA-Balanced, conditional output only
        shutil.copytree(committed / m, tmp_path / "rows" / m)
    res = CliRunner().invoke(app, ["sweep", "table4", "--rows", str(tmp_path / "rows"), "--plan"], terminal_width=200)
    assert res.exit_code == 0, res.output + repr(res.exception)
    out = " ".join(res.output.split())
    assert "kept from" in out and "fada_balanced_tiny trained again" in out
    assert "cfg_layer" in out.split("score on synthetic into")[1] and not (tmp_path / "runs").exists()


def test_kept_cfg_variants_that_started_from_another_parent_are_named_with_what_to_remove(monkeypatch, tmp_path):
    # Table 4's CFG variants are compared as equals only from the same parent checkpoint: a kept
    # fada_fast row (and fada_4, the same checkpoint) with no or another recorded parent is named,
    # with the folders whose removal makes the sweep train and score it beside the new rows.
    import json
    import shutil

    from fada.hashing import folder_sha256

    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    committed = Path(__file__).resolve().parents[2] / "results" / "synthetic" / "rows"
    rows = tmp_path / "rows"
    for m in ("fada_fast", "fada_4"):
        shutil.copytree(committed / m, rows / m)
        ident = json.loads((rows / m / "identity.json").read_text())
        ident.pop("training", None)                          # saved without a training record
        (rows / m / "identity.json").write_text(json.dumps(ident))
    parent = tmp_path / "runs" / "fada_balanced_tiny" / "model"
    parent.mkdir(parents=True)
    (parent / "fada.json").write_text("{}")
    sha = folder_sha256(parent)
    to_make = ["cfg_time_embed_tiny", "cfg_layer_tiny"]

    def notes(steps=()):
        return sw.kept_rows_out_of_step(4, rows, ["fada_fast", "fada_4"], to_make, list(steps))

    def record(method, parent_sha):
        ident = json.loads((rows / method / "identity.json").read_text())
        ident["training"] = {"recipe": "fada_fast_tiny", "parent_sha256": parent_sha}
        (rows / method / "identity.json").write_text(json.dumps(ident))

    (note,) = notes()
    assert "no parent checkpoint recorded" in note and sha[:12] in note
    assert str(rows / "fada_fast") in note and str(rows / "fada_4") in note and "fada_fast_tiny" in note
    record("fada_fast", sha)
    record("fada_4", "0" * 64)
    assert "trained from several parent checkpoints" in notes()[0]
    record("fada_4", sha)
    assert notes() == []                                     # started alike: nothing to say
    (note,) = notes([{"recipe": "fada_balanced_tiny", "have": False}])
    assert f"trained from fada_balanced_tiny {sha[:12]}" in note and "as this sweep trains it" in note
    (tmp_path / "runs" / "fada_fast_tiny").mkdir()           # its own checkpoint is kept as trained too
    assert str(tmp_path / "runs" / "fada_fast_tiny") in notes([{"recipe": "fada_balanced_tiny", "have": False}])[0]
    assert sw.kept_rows_out_of_step(4, rows, ["fada_fast", "fada_4"], [], []) == []     # no variant to make beside them


def test_with_every_table4_row_kept_the_variants_are_checked_against_each_other(monkeypatch, tmp_path):
    # Nothing to make: the kept CFG variants are still compared as equals by the claims, so a kept
    # row whose recorded parent differs from the others' (or is not recorded) is named.
    import json
    import shutil

    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    committed = Path(__file__).resolve().parents[2] / "results" / "synthetic" / "rows"
    rows, kept = tmp_path / "rows", ["cfg_time_embed", "cfg_layer", "fada_fast", "fada_4"]
    for m in kept:
        shutil.copytree(committed / m, rows / m)

    def record(method, parent_sha):
        ident = json.loads((rows / method / "identity.json").read_text())
        ident["training"] = {"recipe": f"{method}_tiny", "parent_sha256": parent_sha}
        (rows / method / "identity.json").write_text(json.dumps(ident))

    p, q = "p" * 64, "q" * 64
    for m in ("cfg_time_embed", "cfg_layer"):
        record(m, p)
    record("fada_fast", None)
    record("fada_4", None)

    def notes(steps=()):
        return sw.kept_rows_out_of_step(4, rows, kept, [], list(steps))

    (note,) = notes()
    assert note.startswith("kept fada_4, fada_fast (fada_fast_tiny): no parent checkpoint recorded, while kept ")
    assert f"while kept cfg_layer_tiny, cfg_time_embed_tiny started from fada_balanced_tiny {p[:12]}:" in note
    assert str(rows / "fada_fast") in note and str(rows / "fada_4") in note
    # its checkpoint under runs/ is listed too unless its training log records that parent
    ckpt = tmp_path / "runs" / "fada_fast_tiny"
    ckpt.mkdir(parents=True)
    assert str(ckpt) in notes()[0]
    (ckpt / "log.jsonl").write_text(json.dumps({"step": 0, "threads": 1, "parent_sha256": p}) + "\n")
    assert str(ckpt) not in notes()[0] and str(rows / "fada_fast") in notes()[0]
    for m in ("fada_fast", "fada_4"):
        record(m, p)
    assert notes() == []                                     # all from one parent
    record("cfg_layer", q)                                   # one variant from another parent
    named = {n.split(" (")[0] for n in notes()}
    assert named == {"kept cfg_time_embed", "kept cfg_layer", "kept fada_4, fada_fast"}
    # the parent trained again by this sweep: every kept variant scored the earlier one
    record("cfg_layer", p)
    assert len(notes([{"recipe": "fada_balanced_tiny", "have": False}])) == 3
    assert "this sweep trains fada_balanced_tiny again" in notes([{"recipe": "fada_balanced_tiny", "have": False}])[0]


def test_the_plan_tells_a_trained_checkpoint_whose_parent_is_not_the_one_under_runs(monkeypatch, tmp_path):
    # A trained checkpoint is used as it is: one trained from an earlier parent (FADA-Fast after
    # FADA-Balanced was trained again) would be compared beside rows from the new parent.
    import json

    from fada.hashing import folder_sha256

    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    runs = tmp_path / "runs"
    for name in ("fada_balanced_tiny", "fada_fast_tiny"):
        (runs / name / "model").mkdir(parents=True)
        (runs / name / "model" / "fada.json").write_text("{}")
    sha = folder_sha256(runs / "fada_balanced_tiny" / "model")

    def differs():
        plan = sw.training_plan(["fada_fast_tiny"])
        (st,) = [st for st in plan if st["recipe"] == "fada_fast_tiny"]
        assert st["state"] == "trained" and st["parent"] == "fada_balanced_tiny"
        return sw.parent_differs(st, plan)

    assert differs() == "not recorded"
    (runs / "fada_fast_tiny" / "log.jsonl").write_text(json.dumps({"step": 0, "threads": 1, "parent_sha256": sha}) + "\n")
    assert differs() is None
    (runs / "fada_balanced_tiny" / "model" / "fada.json").write_text('{"trained": "again"}')
    assert differs() == sha
    (note,) = sw.trained_from_another_parent(sw.training_plan(["fada_fast_tiny"]))
    assert f"fada_fast_tiny was trained from fada_balanced_tiny {sha[:12]}" in note and "remove it" in note
