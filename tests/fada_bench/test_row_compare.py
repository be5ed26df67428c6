"""`fada-bench rows compare`: the paired difference of two rows on the clips both scored, checked
against scipy's paired t-test interval."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fada.errors import InputError
from fada_bench.metrics.stats import t_interval
from fada_bench.row_compare import compare_rows, find_row, largest_difference
from fada_bench.rows import RowMismatchError, read_row
from fada_bench.summary import SUMMARY_COLUMNS

BACKBONES = {"sync_d[synthetic]": {"syncnet.safetensors": "b" * 64}, "iqa[synthetic]": {"iqa.safetensors": "d" * 64},
             "fid[synthetic]": {"inverse_renderer.safetensors": "a" * 64}}


def make_row(folder, method, values: dict[str, dict[str, float]], fid: float, seed=0):
    """A row folder: per-sample sync_d and iqa ({metric: {sample: value}}; NaN = failed), their t
    intervals as the summary, and a per-set fid with a made-up interval."""
    folder.mkdir(parents=True)
    samples = pd.DataFrame({f"{m}[synthetic]": pd.Series(v) for m, v in values.items()})
    samples.index.name = "sample"
    samples = samples.reset_index()
    samples.insert(0, "method", method)
    samples["status"] = np.where(samples.drop(columns=["method", "sample"]).isna().any(axis=1), "failed", "ok")
    samples.to_csv(folder / "samples.csv", index=False)
    summary = [(method, m, "synthetic", *t_interval(samples[f"{m}[synthetic]"]), 0) for m in values]
    summary.append((method, "fid", "synthetic", fid, fid * 0.9, fid * 1.2, len(samples), 0))
    summary.append((method, "nfe_d", "counted", 18.0, 18.0, 18.0, len(samples), 0))
    pd.DataFrame(summary, columns=SUMMARY_COLUMNS).to_csv(folder / "summary.csv", index=False)
    ident = {"method": method, "suite": "synthetic", "limit": None, "seed": seed, "backbones": BACKBONES,
             "card": {"adapter": "static"}}
    (folder / "identity.json").write_text(json.dumps(ident))
    return folder


def pair_of_rows(tmp_path, shift=0.05):
    """Rows A and B on shared clip difficulties: A's sync_d is B's minus `shift` plus noise; A has
    a clip B lacks, B failed one clip, and B's samples are in another order."""
    rng = np.random.default_rng(0)
    clips = [f"c{i:02d}" for i in range(30)]
    hard = rng.normal(1.0, 0.3, 30)                  # clip difficulty, shared by both rows
    b_sync = hard + rng.normal(0, 0.02, 30)
    a_sync = hard - shift + rng.normal(0, 0.02, 30)
    b_iqa, a_iqa = 2 + hard + rng.normal(0, 0.05, 30), 2 + hard + rng.normal(0, 0.05, 30)
    a = {"sync_d": dict(zip(clips + ["extra"], [*a_sync, 5.0])), "iqa": dict(zip(clips + ["extra"], [*a_iqa, 2.0]))}
    order = rng.permutation(30)
    b = {"sync_d": {clips[i]: b_sync[i] for i in order}, "iqa": {clips[i]: b_iqa[i] for i in order}}
    b["sync_d"]["c03"] = float("nan")
    ra = read_row(make_row(tmp_path / "rows" / "a", "a", a, fid=100.0))
    rb = read_row(make_row(tmp_path / "rows" / "b", "b", b, fid=80.0))
    keep = [i for i in range(30) if clips[i] != "c03"]
    return ra, rb, (a_sync[keep], b_sync[keep]), (a_iqa, b_iqa)


def test_the_paired_difference_is_scipys_paired_t_interval_on_the_clips_both_scored(tmp_path):
    ra, rb, (a_sync, b_sync), (a_iqa, b_iqa) = pair_of_rows(tmp_path)
    t = compare_rows(ra, rb).set_index("metric")
    for metric, (x, y) in (("sync_d", (a_sync, b_sync)), ("iqa", (a_iqa, b_iqa))):
        ref = stats.ttest_rel(x, y)
        ci = ref.confidence_interval(0.95)
        r = t.loc[metric]
        assert r["n_paired"] == len(x)             # the extra clip and the failed one are left out
        assert r["diff_mean"] == pytest.approx(np.mean(x - y), rel=1e-12)
        assert (r["diff_ci95_low"], r["diff_ci95_high"]) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    # sync_d: lower is better and A is lower on every clip, so A is better; iqa has no true shift
    assert t.loc["sync_d", "verdict"] == "A better"
    assert t.loc["iqa", "verdict"] == "no difference"
    # the shared clip difficulty cancels: the paired interval is far narrower than the rows' own
    width = t.loc["sync_d", "diff_ci95_high"] - t.loc["sync_d", "diff_ci95_low"]
    assert width < 0.2 * (t.loc["sync_d", "b_ci95_high"] - t.loc["sync_d", "b_ci95_low"])


def test_a_per_set_metric_of_rows_without_replicates_has_means_and_their_difference_only(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path)
    t = compare_rows(ra, rb).set_index("metric")
    assert t.loc["fid", "rel_diff"] == pytest.approx(0.25)
    assert t.loc["fid", "n_paired"] == 0 and np.isnan(t.loc["fid", "diff_mean"]) and t.loc["fid", "verdict"] == "-"
    # the largest difference is over the quality metrics only (the counted calls are left out)
    name, rel = largest_difference(t.reset_index())
    assert name == "fid[synthetic]" and rel == pytest.approx(0.25)


def write_replicates(row, values, samples="f" * 16):
    pd.DataFrame({"method": row.method, "metric": "fid", "backbone": "synthetic", "samples": samples,
                  "replicate": range(len(values)), "value": values}).to_csv(row.path / "bootstrap.csv", index=False)


def test_a_per_set_metric_is_paired_over_the_replicates_both_rows_kept_of_the_same_clips(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path)
    rng = np.random.default_rng(1)
    common = rng.normal(90.0, 8.0, 200)               # the resample's clips move both rows alike
    a_reps, b_reps = common + 20 + rng.normal(0, 1, 200), common + rng.normal(0, 1, 200)
    a_reps[7] = np.nan                                # a replicate whose value was not finite
    write_replicates(ra, a_reps[::-1].copy())         # stored in another order: read by replicate number
    pd.read_csv(ra.path / "bootstrap.csv").assign(replicate=lambda d: d["replicate"][::-1].to_numpy()) \
        .to_csv(ra.path / "bootstrap.csv", index=False)
    write_replicates(rb, b_reps)
    line = compare_rows(ra, rb).set_index("metric").loc["fid"]
    ok = np.isfinite(a_reps)
    lo, hi = np.percentile((a_reps - b_reps)[ok], [2.5, 97.5])
    assert (line["diff_mean"], line["n_paired"]) == (pytest.approx(20.0), 31)    # the clips of A's summary
    assert (line["diff_ci95_low"], line["diff_ci95_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert line["verdict"] == "A worse"               # FID: lower is better
    # the rows' own intervals overlap ([90, 120] against [72, 96]); paired, the difference is clear
    assert line["a_ci95_low"] < line["b_ci95_high"] and line["diff_ci95_low"] > 15


def test_replicates_of_other_clips_or_of_one_row_only_give_no_paired_interval(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path)
    write_replicates(ra, np.arange(200.0))
    assert compare_rows(ra, rb).set_index("metric").loc["fid", "n_paired"] == 0      # B kept none
    write_replicates(rb, np.arange(200.0), samples="0" * 16)
    assert compare_rows(ra, rb).set_index("metric").loc["fid", "n_paired"] == 0      # other clips
    write_replicates(rb, np.arange(100.0))
    assert compare_rows(ra, rb).set_index("metric").loc["fid", "n_paired"] == 0      # other count
    write_replicates(rb, np.arange(200.0) - 1)
    assert compare_rows(ra, rb).set_index("metric").loc["fid", "verdict"] == "A worse"


def test_replicates_merge_from_rows_and_run_folders_the_first_folder_winning(tmp_path):
    from fada_bench.row_compare import merged_replicates

    ra, rb, *_ = pair_of_rows(tmp_path)
    write_replicates(ra, np.arange(5.0))
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"method": ["a", "a", "c", "c"], "metric": "fvd", "backbone": "synthetic", "samples": "e" * 16,
                  "replicate": [0, 1, 1, 0], "value": [9.0, 9.0, 2.0, 1.0]}).to_csv(run / "bootstrap.csv", index=False)
    got = merged_replicates([tmp_path / "rows", run])
    assert sorted(got) == ["a", "c"]                       # b kept none
    assert list(got["a"]) == [("fid", "synthetic")] and list(got["a"][("fid", "synthetic")][1]) == [0, 1, 2, 3, 4]
    assert got["c"][("fvd", "synthetic")][0] == "e" * 16 and list(got["c"][("fvd", "synthetic")][1]) == [1.0, 2.0]


def test_a_worse_row_is_named_worse_whichever_way_its_metric_points(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path, shift=-0.05)        # A's sync_d higher: worse
    assert compare_rows(ra, rb).set_index("metric").loc["sync_d", "verdict"] == "A worse"
    assert compare_rows(rb, ra).set_index("metric").loc["sync_d", "verdict"] == "A better"


def test_rows_measured_differently_are_not_compared(tmp_path):
    a = read_row(make_row(tmp_path / "a", "a", {"sync_d": {"c0": 1.0, "c1": 2.0}}, fid=1.0))
    b = read_row(make_row(tmp_path / "b", "b", {"sync_d": {"c0": 1.0, "c1": 2.0}}, fid=1.0, seed=1))
    with pytest.raises(RowMismatchError, match="seed"):
        compare_rows(a, b)


def test_a_row_is_found_by_name_in_the_rows_folder_or_by_its_path(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path)
    assert find_row("a", tmp_path / "rows").path == ra.path
    assert find_row(str(rb.path), tmp_path / "elsewhere").method == "b"
    with pytest.raises(InputError, match=r"no scored row 'c'.*it has a, b"):
        find_row("c", tmp_path / "rows")


def test_rows_compare_prints_the_table_and_writes_the_csv(tmp_path):
    from typer.testing import CliRunner

    from fada_bench.cli import app

    pair_of_rows(tmp_path)
    out = tmp_path / "cmp.csv"
    res = CliRunner().invoke(app, ["rows", "compare", "a", "b", "--rows", str(tmp_path / "rows"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "largest difference of the means over the quality metrics: 25.00% of B's (fid[synthetic])" in res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("sync_d[synthetic]"))
    assert line.split()[-2:] == ["A", "better"] and " 29 " in line
    assert "no paired difference for fid[synthetic]: a per-set metric is paired only where both rows kept" in res.output
    written = pd.read_csv(out)
    assert list(written["metric"]) == ["sync_d", "iqa", "fid", "nfe_d"]


def test_a_method_of_a_finished_run_folder_compares_as_its_row_would(tmp_path):
    ra, rb, *_ = pair_of_rows(tmp_path)
    run = tmp_path / "my-run"                # row a's values, as `fada-bench run` leaves them
    run.mkdir()
    ra.summary.to_csv(run / "summary.csv", index=False)
    pd.read_csv(ra.path / "samples.csv").to_parquet(run / "samples.parquet")
    (run / "run.json").write_text(json.dumps({"status": "finished", "config": {
        "suite": "synthetic", "limit": None, "seed": 0, "backbones": BACKBONES, "cards": {"a": {"adapter": "static"}}}}))
    direct = compare_rows(ra, rb)
    from_run = compare_rows(find_row(run / "a", tmp_path / "rows", tmp_path / "scratch"), rb)
    pd.testing.assert_frame_equal(from_run, direct)
    assert not (run / "a").exists()          # nothing is written into the run folder
    from typer.testing import CliRunner

    from fada_bench.cli import app

    res = CliRunner().invoke(app, ["rows", "compare", str(run / "a"), "b", "--rows", str(tmp_path / "rows")])
    assert res.exit_code == 0, res.output
    assert next(ln for ln in res.output.splitlines() if ln.startswith("sync_d")).rstrip().endswith("A better")
    with pytest.raises(InputError, match="has no rows of c"):
        find_row(run / "c", tmp_path / "rows", tmp_path / "scratch")
    (run / "run.json").write_text(json.dumps({"status": "running", "config": {}}))
    with pytest.raises(InputError, match="not finished"):
        find_row(run / "a", tmp_path / "rows", tmp_path / "scratch2")
