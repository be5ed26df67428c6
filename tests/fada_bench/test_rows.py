"""Scored rows kept in the repository: saved from a run folder, they rebuild the same tables and
claims, and rows measured differently refuse to combine."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fada.errors import InputError
from fada_bench.claims import check_claims, merged_summary
from fada_bench.rows import (Row, RowMismatchError, backbone_hashes, read_row, read_rows, row_device, row_overview,
                             save_rows)
from fada_bench.summary import SUMMARY_COLUMNS
from fada_bench.tables import Run, build_table, read_run, render

BACKBONES = {"fid[synthetic]": {"inverse_renderer.safetensors": "a" * 64},
             "sync_d[synthetic]": {"syncnet.safetensors": "b" * 64}}

ROWS = [
    ("teacher", "fid[synthetic]", "synthetic", 100.0, 95.0, 105.0, 3, 0),
    ("teacher", "sync_d[synthetic]", "synthetic", 1.0, 0.9, 1.1, 3, 0),
    ("fada_fast", "fid", "synthetic", 12.3456, 11.0, 13.5, 3, 0),
    ("fada_fast", "sync_d", "synthetic", 7.5, 7.25, 7.75, 3, 0),
    ("fada_fast", "nfe_d", "counted", 6.0, 6.0, 6.0, 3, 0),
    ("fada_fast", "sec_per_video_sec", "wallclock", 1.5, 1.4, 1.6, 3, 0),
    ("static", "sync_d", "synthetic", 11.0, 10.0, 12.0, 2, 1),
]


def fake_run(folder, seed=0, backbones=BACKBONES, decoder="vae"):
    folder.mkdir(parents=True)
    rows = [(m, k.split("[")[0], b, *rest) for m, k, b, *rest in ROWS]
    pd.DataFrame(rows, columns=SUMMARY_COLUMNS).to_csv(folder / "summary.csv", index=False)
    samples = pd.DataFrame([{"method": m, "sample": f"s{i}", "status": "ok", "error": "", "video": f"videos/{m}/s{i}.mp4",
                             "sync_d[synthetic]": 1.0 + i} for m in ("teacher", "fada_fast", "static") for i in range(3)])
    samples.to_parquet(folder / "samples.parquet")
    info = {"config": {"suite": "synthetic", "limit": 3, "n_samples": 3, "seed": seed, "device": "cpu",
                       "metrics": list(backbones), "backbones": backbones, "decoder": decoder,
                       "cards": {"fada_fast": {"adapter": "fada", "checkpoint": "fada_fast_tiny/model",
                                               "checkpoint_hashes": {"sha256": "c" * 64, "files": {}}},
                                 "teacher": {"adapter": "fada"}, "static": {"adapter": "static"}}},
            "status": "finished", "hardware": {"processor": "Test CPU", "cpu_count": 2},
            "git": {"commit": "deadbeef"}, "command": ["fada-bench", "run"]}
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def test_saved_rows_rebuild_the_run_folders_tables_and_claims(tmp_path):
    run = fake_run(tmp_path / "run")
    written = save_rows(run, tmp_path / "rows")
    assert sorted(p.name for p in written) == ["fada_fast", "static", "teacher"]
    for n in (1, 2, 3, 4):
        assert render(n, [tmp_path / "rows"]) == render(n, [run])
        assert render(n, [tmp_path / "rows"], only_ours=True) == render(n, [run], only_ours=True)
    # a folder of rows is read the way a run folder is, wall-clock device included
    _, from_rows = build_table(1, [read_run(tmp_path / "rows")])
    _, from_run = build_table(1, [read_run(run)])
    pd.testing.assert_frame_equal(from_rows, from_run)
    ours = [(v.claim, v.verdict, v.ours) for v in check_claims(merged_summary([tmp_path / "rows"]))]
    assert ours == [(v.claim, v.verdict, v.ours) for v in check_claims(merged_summary([run]))]
    # the identity records what the values were measured with; no video paths are kept
    ident = json.loads((tmp_path / "rows" / "fada_fast" / "identity.json").read_text())
    assert (ident["suite"], ident["limit"], ident["seed"]) == ("synthetic", 3, 0)
    assert ident["backbones"] == BACKBONES and ident["checkpoint"]["sha256"] == "c" * 64
    assert ident["hashed_at"] == "run" and ident["git"]["commit"] == "deadbeef"
    samples = pd.read_csv(tmp_path / "rows" / "fada_fast" / "samples.csv")
    assert "video" not in samples and list(samples["sync_d[synthetic]"]) == [1.0, 2.0, 3.0]


def _save_beside(run, rows, method):
    """Put a row into `rows` as a hand copy would, past `save_rows`' own check."""
    save_rows(run, rows.parent / "elsewhere", methods=[method])
    shutil.move(rows.parent / "elsewhere" / method, rows / method)


def test_saving_a_row_that_does_not_combine_with_the_kept_ones_fails_and_writes_nothing(tmp_path):
    rows = tmp_path / "rows"
    save_rows(fake_run(tmp_path / "run_a"), rows, methods=["teacher", "static"])
    before = {p: p.read_bytes() for p in rows.rglob("*") if p.is_file()}
    with pytest.raises(RowMismatchError) as e:
        save_rows(fake_run(tmp_path / "run_b", seed=1), rows, methods=["fada_fast"])
    msg = str(e.value)
    assert "seed" in msg and "fada_fast" in msg and "static" in msg and "Nothing was saved" in msg
    assert not (rows / "fada_fast").exists()
    assert {p: p.read_bytes() for p in rows.rglob("*") if p.is_file()} == before
    # replacing rows: only the rows that stay are compared, and those must still agree
    with pytest.raises(RowMismatchError, match="seed"):
        save_rows(fake_run(tmp_path / "run_c", seed=1), rows, methods=["teacher"])
    save_rows(fake_run(tmp_path / "run_d", seed=1), rows, methods=["teacher", "static"])
    assert {json.loads((rows / m / "identity.json").read_text())["seed"] for m in ("teacher", "static")} == {1}


def test_rows_with_other_backbone_weights_or_seed_refuse_to_combine_naming_both(tmp_path):
    save_rows(fake_run(tmp_path / "run_a"), tmp_path / "rows", methods=["teacher"])
    other = {**BACKBONES, "fid[synthetic]": {"inverse_renderer.safetensors": "f" * 64}}
    _save_beside(fake_run(tmp_path / "run_b", backbones=other), tmp_path / "rows", "fada_fast")
    with pytest.raises(RowMismatchError) as e:
        read_rows(tmp_path / "rows")
    msg = str(e.value)
    assert "fada_fast" in msg and "teacher" in msg and "backbones" in msg and "fid[synthetic]" in msg
    with pytest.raises(RowMismatchError):
        render(1, [tmp_path / "rows"])

    shutil.rmtree(tmp_path / "rows" / "fada_fast")
    _save_beside(fake_run(tmp_path / "run_c", seed=1), tmp_path / "rows", "fada_fast")
    with pytest.raises(RowMismatchError, match="seed"):
        merged_summary([tmp_path / "rows"])
    # a row and a run folder measured differently do not combine in the claims either
    shutil.rmtree(tmp_path / "rows" / "fada_fast")
    with pytest.raises(RowMismatchError, match=r"run_c.*seed|seed.*run_c"):
        merged_summary([tmp_path / "rows", tmp_path / "run_c"])


def test_rows_decoded_differently_refuse_to_combine_and_a_row_that_decodes_nothing_has_no_decoder(tmp_path):
    save_rows(fake_run(tmp_path / "run_vae"), tmp_path / "rows", methods=["teacher"])
    save_rows(fake_run(tmp_path / "run_fast", decoder="fast"), tmp_path / "rows", methods=["static"])
    assert "decoder" not in json.loads((tmp_path / "rows" / "static" / "identity.json").read_text())
    assert json.loads((tmp_path / "rows" / "teacher" / "identity.json").read_text())["decoder"] == "vae"
    read_rows(tmp_path / "rows")                       # static decodes nothing: it combines
    with pytest.raises(RowMismatchError, match="decoder"):
        save_rows(tmp_path / "run_fast", tmp_path / "rows", methods=["fada_fast"])
    _save_beside(tmp_path / "run_fast", tmp_path / "rows", "fada_fast")
    with pytest.raises(RowMismatchError, match=r"decoder \('fast' against 'vae'\)") as e:
        read_rows(tmp_path / "rows")
    assert "fada_fast" in str(e.value) and "teacher" in str(e.value)
    shutil.rmtree(tmp_path / "rows" / "fada_fast")
    # a run folder decoded with the fast decoder does not combine with the VAE rows either
    with pytest.raises(RowMismatchError, match="decoder"):
        merged_summary([tmp_path / "rows", tmp_path / "run_fast"])


def test_a_row_saved_before_rows_recorded_the_decoder_takes_it_from_its_run_command(tmp_path):
    save_rows(fake_run(tmp_path / "run_vae"), tmp_path / "rows", methods=["teacher"])
    _save_beside(fake_run(tmp_path / "run_fast", decoder="fast"), tmp_path / "rows", "fada_fast")
    ident_file = tmp_path / "rows" / "teacher" / "identity.json"
    old = json.loads(ident_file.read_text())
    del old["decoder"]                                 # as saved before the decoder was recorded
    ident_file.write_text(json.dumps(old))
    with pytest.raises(RowMismatchError, match="decoder"):
        read_rows(tmp_path / "rows")                  # no --decoder in its command: the VAE
    ident_file.write_text(json.dumps({**old, "run_command": ["fada-bench", "run", "--decoder", "fast"]}))
    assert {r.identity["decoder"] for r in read_rows(tmp_path / "rows")} == {"fast"}


def test_an_unfinished_run_or_unknown_method_is_a_clear_error(tmp_path):
    run = fake_run(tmp_path / "run")
    with pytest.raises(InputError, match="no rows of nope"):
        save_rows(run, tmp_path / "rows", methods=["nope"])
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "running"}))
    with pytest.raises(InputError, match="not finished"):
        save_rows(run, tmp_path / "rows")


def test_backbone_hashes_are_the_shipped_files_sha256():
    from fada_bench.weight_files import synthetic as sb

    got = backbone_hashes(["fid[synthetic]", "sync_d[synthetic]", "fvd[synthetic]"])
    reg = sb.registry()
    assert got["fid[synthetic]"] == {reg["inverse_renderer"]["file"]: reg["inverse_renderer"]["sha256"]}
    assert got["sync_d[synthetic]"] == {reg["syncnet"]["file"]: reg["syncnet"]["sha256"]}
    assert got["fvd[synthetic]"] == {reg["video_features"]["file"]: reg["video_features"]["sha256"]}


def test_pixel_metrics_have_no_backbone_files():
    # color_drift and seam read pixels only: no weights, so nothing to hash and no error
    assert backbone_hashes(["color_drift[pixel]", "seam[pixel]"]) == {"color_drift[pixel]": {}, "seam[pixel]": {}}


def test_a_rows_training_record_keeps_steps_hours_and_the_parent_of_its_last_start(tmp_path):
    from fada_bench.rows import _training_text, training_record

    log = tmp_path / "fada_fast_tiny" / "log.jsonl"
    log.parent.mkdir()
    (log.parent / "recipe.json").write_text(json.dumps({"steps": 4000}))
    recs = [{"step": 1, "sec": 2.0, "device": "cpu", "threads": 2, "parent_sha256": "a" * 64},
            {"step": 10, "sec": 2.0},
            {"step": 11, "sec": 4.0, "device": "cpu", "threads": 2, "parent_sha256": "b" * 64,
             "training_set_sha256": "d" * 64},
            {"step": 20, "sec": 4.0, "cached_samples": 72, "live_samples": 8}]
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    rec = training_record(tmp_path, "fada_fast_tiny")
    assert rec["steps"] == "20 of 4000" and rec["parent_sha256"] == "b" * 64
    assert rec["training_set_sha256"] == "d" * 64
    assert rec["hours"] == pytest.approx(20 * 3.0 / 3600)
    assert rec["target_samples"] == {"cached": 72, "live": 8}
    assert _training_text(rec) == "fada_fast_tiny: 20 of 4000, 0.02 h (cpu x2), targets of 72 of 80 samples cached"


def test_the_committed_rows_were_distilled_from_the_shipped_teacher_they_score():
    # lineage's checkpoint sha256 (from the files a row's identity lists) is the hash of the shipped
    # teacher folder itself, and every committed student that records its teacher names that folder:
    # Tables 2-4 compare students of one teacher, the one their teacher row scored.

    from fada.hashing import folder_sha256
    from fada_bench.rows import lineage
    from fada_bench.weight_files.shipped import model_folder

    rows = lineage([Path(__file__).resolve().parents[2] / "results" / "synthetic" / "rows"])
    teacher = folder_sha256(model_folder("teacher_tiny/model"))
    assert rows["teacher"]["checkpoint"] == teacher
    students = {m: x["teacher"] for m, x in rows.items() if x["teacher"]}
    assert {"perflow", "tcd", "fada_balanced"} <= set(students)
    assert set(students.values()) == {teacher}
    assert rows["static"] == {"checkpoint": None, "teacher": None}


def test_a_student_from_another_teacher_is_named_under_the_table_and_its_claim_not_compared(tmp_path):
    from pathlib import Path

    from fada_bench.claims import NOT_COMPARABLE
    from fada_bench.rows import lineage

    committed = Path(__file__).resolve().parents[2] / "results" / "synthetic" / "rows"
    rows = tmp_path / "rows"
    shutil.copytree(committed, rows)
    for m in ("rflow", "rflow_v"):            # claim 2 without its RFlow rows, whichever are committed
        shutil.rmtree(rows / m, ignore_errors=True)
    assert "teachers differ" not in render(2, [rows])
    claim1 = next(v for v in check_claims(merged_summary([rows]), lineage=lineage([rows])) if v.claim == "1").verdict
    assert claim1 != NOT_COMPARABLE
    ident = rows / "tcd" / "identity.json"
    d = json.loads(ident.read_text())
    d["training"]["teacher_sha256"] = "u" * 64          # TCD retrained from another teacher
    ident.write_text(json.dumps(d))
    table = render(2, [rows])
    assert table.rstrip().splitlines()[-1].startswith("teachers differ") and f"tcd from {'u' * 12}" in table
    claims = {v.claim: v for v in check_claims(merged_summary([rows]), lineage=lineage([rows]))}
    assert claims["2"].ours[0].startswith("teachers differ")
    assert claims["2"].verdict == "not measured yet"        # RFlow's rows are missing: that still decides
    assert claims["1"].verdict == claim1                     # claim 1 does not compare TCD
    ident = rows / "fada_balanced" / "identity.json"
    d = json.loads(ident.read_text())
    d["training"]["teacher_sha256"] = "u" * 64
    ident.write_text(json.dumps(d))
    claims = {v.claim: v for v in check_claims(merged_summary([rows]), lineage=lineage([rows]))}
    assert claims["1"].verdict == NOT_COMPARABLE


def test_rows_list_shows_each_row_and_fails_on_rows_that_cannot_combine(tmp_path):
    from typer.testing import CliRunner

    from fada_bench.cli import app

    save_rows(fake_run(tmp_path / "run_a"), tmp_path / "rows", methods=["teacher", "fada_fast"])
    ident_path = tmp_path / "rows" / "fada_fast" / "identity.json"
    ident = json.loads(ident_path.read_text())
    ident["training"] = {"recipe": "fada_fast_tiny", "steps": "40 of 40", "hours": 0.5, "ran_on": "cpu (Test CPU) x1"}
    ident_path.write_text(json.dumps(ident))
    res = CliRunner().invoke(app, ["rows", "list", str(tmp_path / "rows")])
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln for ln in res.output.splitlines() if ln.split()}
    assert "c" * 12 in lines["fada_fast"] and "Test CPU" in lines["fada_fast"]
    assert "fada_fast_tiny: 40 of 40, 0.50 h (cpu (Test CPU) x1)" in lines["fada_fast"]
    assert "c" * 12 not in lines["teacher"] and "2 rows, combinable" in res.output
    _save_beside(fake_run(tmp_path / "run_b", seed=1), tmp_path / "rows", "static")
    res = CliRunner().invoke(app, ["rows", "list", str(tmp_path / "rows")])
    assert "static" in res.output                       # listed before the check fails
    assert isinstance(res.exception, RowMismatchError) and "seed" in str(res.exception)
    res = CliRunner().invoke(app, ["rows", "list", str(tmp_path / "empty")])
    assert isinstance(res.exception, InputError) and "no scored rows" in str(res.exception)


def test_the_wallclock_label_of_rows_names_each_machine_and_thread_count_once():
    def row(method, threads):
        hw = {"processor": "Test CPU", "cpu_count": 2, "torch_threads": threads, "cuda": []}
        return Row(Path(method), method, {"device": "cpu", "hardware": hw}, pd.DataFrame())

    def label(rows):
        return Run(Path("rows"), "synthetic", pd.DataFrame(), devices={r.method: row_device(r) for r in rows}
                   ).device_of([r.method for r in rows])

    assert label([row("teacher", 2), row("fada_fast", 2)]) == "Test CPU x2"
    assert label([row("teacher", 2), row("fada_balanced", 1), row("fada_fast", 2)]) == "Test CPU x2; Test CPU x1"


def test_a_row_saved_with_training_logs_keeps_its_log_and_recipe_and_they_read_like_the_run(tmp_path):
    from fada.train.log import KEPT_LOG, KEPT_RECIPE, read_log, training_hours, training_steps
    from fada.train.log_compare import compare_logs
    from fada.train.ratio_log import ratio_quantiles

    run = fake_run(tmp_path / "run")
    trained = tmp_path / "runs" / "fada_fast_tiny"
    trained.mkdir(parents=True)
    recipe = {"steps": 20, "seed": 0, "data": {"tiers": ["A", "B"]}, "optim": {"batch_size": 2},
              "objective": {"cfg_mode": "layer_tokens", "num_windows": 4, "phi_steps": 8}}
    (trained / "recipe.json").write_text(json.dumps(recipe))
    recs = [{"step": s, "sec": 2.0, "L_distill": 0.01 * s, "cached": 1, "R_samples": [1.0, 40.0],
             "R_tier": ["A", "B"], "R_defects": [[], ["offset"]], **({"threads": 1} if s == 10 else {})}
            for s in (10, 20)]
    (trained / "log.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\nnot json\n")
    row = save_rows(run, tmp_path / "rows", methods=["fada_fast"], training_logs=tmp_path / "runs")[0]
    assert (row / KEPT_LOG).is_file() and json.loads((row / KEPT_RECIPE).read_text()) == recipe
    first = (row / KEPT_LOG).read_bytes()
    save_rows(run, tmp_path / "rows", methods=["fada_fast"], training_logs=tmp_path / "runs")
    assert (row / KEPT_LOG).read_bytes() == first            # the same log gives the same bytes
    # the kept copy tells what the run folder tells, with the run folder gone
    told = (read_log(trained), training_hours(trained), training_steps(trained), ratio_quantiles(trained))
    shutil.rmtree(tmp_path / "runs")
    assert read_log(row) == told[0] and training_hours(row) == told[1] and training_steps(row) == told[2] == "20 of 20"
    pd.testing.assert_frame_equal(ratio_quantiles(row), told[3])
    assert compare_logs(row, row).median_ratio == 1.0
    assert row_overview(read_row(row))["trained"].endswith("; log kept")        # `rows list` says so
    # saved again without the logs, the row keeps no older copies
    save_rows(run, tmp_path / "rows", methods=["fada_fast"])
    assert not (row / KEPT_LOG).exists() and not (row / KEPT_RECIPE).exists()
    assert "log kept" not in row_overview(read_row(row))["trained"]
