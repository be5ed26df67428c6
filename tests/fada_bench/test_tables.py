"""Paper tables beside our values and the drift check, on hand-written run folders; the README's results table against the committed rows."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fada.errors import InputError
from fada_bench.drift import check_run, make_baseline
from fada_bench.summary import SUMMARY_COLUMNS
from fada_bench.tables import Run, build_table, read_run, render


def fake_run(folder, suite, rows):
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=SUMMARY_COLUMNS).to_csv(folder / "summary.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"config": {"suite": suite, "n_samples": 6, "seed": 0}}))
    return folder


ROWS = [
    ("fada_fast", "fid", "synthetic", 12.3456, 11.0, 13.5, 6, 0),
    ("fada_fast", "sync_d", "synthetic", 7.5, 7.25, 7.75, 6, 0),
    ("fada_fast", "nfe_d", "counted", 6.0, 6.0, 6.0, 6, 0),
    ("static", "sync_d", "synthetic", 11.0, 10.0, 12.0, 4, 2),
]


@pytest.fixture
def run_dir(tmp_path):
    return fake_run(tmp_path / "run", "synthetic", ROWS)


def test_table_carries_the_papers_numbers_and_ours_beside_them(run_dir):
    md = render(1, [run_dir], "md")
    for number in ("3.550±.093", "16.67", "171.8", "13.32"):
        assert number in md
    _, df = build_table(1, [read_run(run_dir)])
    fast = df[df["card"] == "fada_fast"].iloc[0]
    assert fast["fid[synthetic] @synthetic"] == "12.35 [11, 13.5]"
    assert fast["nfe_d[counted] @synthetic"] == "6 [6, 6]"
    # a metric our run lacks is "-", never a number
    assert fast["IQA @synthetic"] == "-" and fast["FVD-R @synthetic"] == "-"
    # a paper row no card of ours ran is all "-" on our side
    hallo = df[df["card"] == "hallo"].iloc[0]
    assert hallo["sync_d[synthetic] @synthetic"] == "-" and hallo["H Sync-D (paper)"] == "7.917"
    # the static anchor is appended, with its failed samples shown
    static = df[df["card"] == "static"].iloc[0]
    assert static["sync_d[synthetic] @synthetic"] == "11 [10, 12] (n=4/6)" and static["H Sync-D (paper)"] == "-"


def test_ours_only_keeps_our_columns_and_the_rows_we_ran(run_dir):
    md = render(1, [run_dir], "md", only_ours=True)
    assert "(paper)" not in md and "16.67" not in md and "Hallo" not in md
    df = pd.read_csv(__import__("io").StringIO(render(1, [run_dir], "csv", only_ours=True)))
    assert list(df["method"]) == ["FADA-Fast", "static"]
    assert df.loc[0, "fid[synthetic] @synthetic"] == "12.35 [11, 13.5]"


def test_tables_2_to_4_and_all_formats(run_dir):
    assert "81.10" in render(2, [run_dir])
    assert "13.32" in render(3, [run_dir])
    t4 = render(4, [run_dir], "csv")
    assert "27.10" in t4
    df = pd.read_csv(__import__("io").StringIO(t4))
    assert df.loc[df["method"] == "+ CFG layer with tokens", "card"].item() == "fada_fast"
    tex = render(4, [run_dir], "latex")
    assert r"\begin{tabular}" in tex and "fada\\_fast" in tex
    with pytest.raises(InputError, match="--format"):
        render(4, [run_dir], "html")
    with pytest.raises(InputError, match="tables 1, 2, 3, 4"):
        render(5, [run_dir])


def test_an_hdtf_run_sits_beside_the_hdtf_columns(tmp_path):
    h = fake_run(tmp_path / "h", "hdtf", [("fada_fast", "fid", "inception", 18.0, 17.0, 19.0, 100, 0)])
    c = fake_run(tmp_path / "c", "celebvhq", [("fada_fast", "fid", "inception", 35.0, 33.0, 37.0, 100, 0)])
    _, df = build_table(1, [read_run(h), read_run(c)])
    cols = list(df.columns)
    assert cols.index("fid[inception] @hdtf") == cols.index("H FID (paper)") + 1
    assert cols.index("fid[inception] @celebvhq") == cols.index("C FID (paper)") + 1
    assert df.loc[df["card"] == "fada_fast", "fid[inception] @celebvhq"].item() == "35 [33, 37]"


def test_a_folder_without_summary_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no summary.csv"):
        render(1, [tmp_path])


# ---------------------------------------------------------------------------- drift

def test_baseline_then_check_passes_and_a_drifted_metric_fails(run_dir, tmp_path):
    base = tmp_path / "baselines" / "b.json"
    b = make_baseline(run_dir, base)
    assert all(e["tolerance"] > 0 for e in b["metrics"]) and "rule" in b
    fid = next(e for e in b["metrics"] if e["metric"] == "fid")
    assert fid["tolerance"] == pytest.approx(0.5 * (13.5 - 11.0) / 2)
    assert check_run(base, run_dir) == ([], 4)

    s = pd.read_csv(run_dir / "summary.csv")
    s.loc[s.metric == "sync_d", ["mean", "ci95_low", "ci95_high"]] *= 3
    s.loc[s.metric == "fid", "mean"] += 0.5 * fid["tolerance"]       # inside its tolerance
    s.to_csv(run_dir / "summary.csv", index=False)
    drifts, n = check_run(base, run_dir)
    assert sorted((d.method, d.metric) for d in drifts) == [("fada_fast", "sync_d"), ("static", "sync_d")]
    assert "7.5" in str(drifts[0]) and "22.5" in str(drifts[0]) and "+200.0%" in str(drifts[0])


def test_a_metric_missing_from_the_run_is_drift(run_dir, tmp_path):
    base = tmp_path / "b.json"
    make_baseline(run_dir, base)
    s = pd.read_csv(run_dir / "summary.csv")
    s[s.metric != "fid"].to_csv(run_dir / "summary.csv", index=False)
    drifts, _ = check_run(base, run_dir)
    assert [d.metric for d in drifts] == ["fid"] and "no value" in str(drifts[0])


def test_check_command_exit_codes(run_dir, tmp_path):
    base = tmp_path / "b.json"
    fada = [sys.executable, "-m", "fada_bench"]
    assert subprocess.run([*fada, "baseline", str(run_dir), "--out", str(base)], capture_output=True).returncode == 0
    ok = subprocess.run([*fada, "check", "--baseline", str(base), str(run_dir)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    s = pd.read_csv(run_dir / "summary.csv")
    s.loc[s.metric == "sync_d", "mean"] *= 3
    s.to_csv(run_dir / "summary.csv", index=False)
    bad = subprocess.run([*fada, "check", "--baseline", str(base), str(run_dir)], capture_output=True, text=True)
    assert bad.returncode == 1 and "sync_d" in bad.stdout and "DRIFT" in bad.stdout


def test_table_1_has_our_wallclock_column_with_the_device(tmp_path):
    run = fake_run(tmp_path / "r", "synthetic", ROWS + [("fada_fast", "sec_per_video_sec", "wallclock", 2.5, 2.0, 3.0, 6, 0)])
    info = json.loads((run / "run.json").read_text())
    info["config"]["device"] = "cpu"
    info["hardware"] = {"processor": "x86_64", "machine": "x86_64", "cpu_count": 2, "cuda": []}
    (run / "run.json").write_text(json.dumps(info))
    _, df = build_table(1, [read_run(run)])
    col = "sec_per_video_sec[wallclock] @synthetic on x86_64 x2"
    assert df.loc[df["card"] == "fada_fast", col].item() == "2.5 [2, 3]"
    assert df.loc[df["card"] == "fada_fast", "s per video-s (paper)"].item() == "-"     # the paper has none


def test_the_wallclock_header_names_the_machines_of_the_rows_shown_each_once():
    # perflow (a Table 2 row) was timed on another machine; Table 1 does not show it, so its
    # header must not name that machine.
    # static is shown but not timed, so its machine is not named either.
    methods = ("teacher", "fada_balanced", "fada_fast", "perflow")
    summary = pd.DataFrame([(m, "sec_per_video_sec", "wallclock", 2.0, 1.9, 2.1, 3, 0) for m in methods]
                           + [("static", "fid", "synthetic", 12.0, 11.0, 13.0, 3, 0)], columns=SUMMARY_COLUMNS)
    devices = {"teacher": "Test CPU x2", "fada_balanced": "Test CPU x1", "fada_fast": "Test CPU x2",
               "perflow": "Other CPU x1", "static": "Third CPU x2"}
    run = Run(Path("rows"), "synthetic", summary, devices=devices)
    _, df = build_table(1, [run])
    assert [c for c in df.columns if "wallclock" in c] == [
        "sec_per_video_sec[wallclock] @synthetic on Test CPU x1; Test CPU x2"]
    assert run.device_of(["perflow", "nope"]) == "Other CPU x1" and run.device_of(["nope"]) == "?"


def test_machine_measurements_are_not_baselined(tmp_path):
    # Seconds and peak memory measure the machine and the process (peak RSS counts whatever ran
    # before in it), not the code: a drift check on them fails on a faithful rerun.
    run = fake_run(tmp_path / "r", "synthetic", ROWS + [
        ("teacher", "sec_per_video_sec", "wallclock", 7.1, 7.0, 7.2, 6, 0),
        ("teacher", "peak_mem_gb", "memory", 0.77, 0.76, 0.78, 6, 0)])
    b = make_baseline(run, tmp_path / "b.json")
    assert {e["backbone"] for e in b["metrics"]}.isdisjoint({"wallclock", "memory"})
    assert check_run(tmp_path / "b.json", run) == ([], len(ROWS))


def test_metrics_beyond_the_paper_form_a_column_group_after_the_papers_columns(tmp_path):
    # csim and lmd say `paper = False` on their classes; fid is one of the paper's metrics.
    run = fake_run(tmp_path / "r", "synthetic", ROWS + [
        ("fada_fast", "lmd", "synthetic", 0.05, 0.04, 0.06, 6, 0),
        ("static", "lmd", "synthetic", 0.09, 0.08, 0.1, 6, 0),
        ("fada_fast", "csim", "synthetic", 0.8, 0.7, 0.9, 6, 0)])
    _, df = build_table(1, [read_run(run)])
    group = [c for c in df.columns if c.startswith("beyond the paper: ")]
    assert group == ["beyond the paper: lmd[synthetic] @synthetic", "beyond the paper: csim[synthetic] @synthetic"]
    assert list(df.columns[-2:]) == group                       # after every paper column
    assert not any("fid" in c for c in group)
    assert df.loc[df["card"] == "fada_fast", group[0]].item() == "0.05 [0.04, 0.06]"
    assert df.loc[df["card"] == "static", group[0]].item() == "0.09 [0.08, 0.1]"
    assert df.loc[df["card"] == "static", group[1]].item() == "-"
    assert "beyond the paper: lmd[synthetic]" in render(2, [run], "md", only_ours=True)


def test_the_group_is_driven_by_the_metric_classes_flag(tmp_path, monkeypatch):
    from fada_bench.metrics.paired import LandmarkDistanceSynthetic
    from fada_bench.tables import beyond_the_paper

    run = fake_run(tmp_path / "r", "synthetic", ROWS + [("fada_fast", "lmd", "synthetic", 0.05, 0.04, 0.06, 6, 0)])
    summary = read_run(run).summary
    assert beyond_the_paper(summary) == [("lmd", "synthetic")]
    monkeypatch.setattr(LandmarkDistanceSynthetic, "paper", True)
    assert beyond_the_paper(summary) == []


README_COLUMNS = {"NFE-D": "nfe_d[counted] @synthetic", "IQA ↑": "iqa[synthetic] @synthetic",
                  "Sync-D ↓": "sync_d[synthetic] @synthetic", "FVD ↓": "fvd[synthetic] @synthetic",
                  "FID ↓": "fid[synthetic] @synthetic", "E-FID ↓": "efid[synthetic] @synthetic",
                  "mLMD ↓ (beyond the paper)": "beyond the paper: mlmd[synthetic] @synthetic"}


def test_the_readme_results_table_is_the_committed_rows():
    # The README shows a subset of `fada-bench table --paper 1 --ours-only results/synthetic/rows`;
    # a row re-scored without the README being updated fails here.
    root = Path(__file__).resolve().parents[2]
    section = (root / "README.md").read_text().split("## Results in the synthetic world")[1].split("\n## ")[0]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(header[1:]) == set(README_COLUMNS)
    _, df = build_table(1, [read_run(root / "results" / "synthetic" / "rows")])
    ours = df.set_index("method")
    shown = 0
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name, cell in zip(header[1:], cells[1:]):
            want = ours.loc[cells[0], README_COLUMNS[name]]
            assert want == cell or want.startswith(cell + " ["), (cells[0], name, cell, want)
            shown += 1
    assert shown == 6 * len(README_COLUMNS)


def test_the_committed_tables_and_claims_are_what_the_committed_rows_give(tmp_path):
    # results/synthetic/README.md: table1.md ... table4.md and CLAIMS.md are made from rows/ alone;
    # a row saved without regenerating them fails here. CLAIMS.md is regenerated over a copy of
    # itself, so that its notes are kept; its "Generated by" line names the --out it was given.
    from typer.testing import CliRunner

    from fada_bench.cli import app

    results = Path(__file__).resolve().parents[2] / "results" / "synthetic"
    for n in (1, 2, 3, 4):
        assert render(n, [results / "rows"]) == (results / f"table{n}.md").read_text(), f"table{n}.md"
    out = tmp_path / "CLAIMS.md"
    out.write_text((results / "CLAIMS.md").read_text())
    res = CliRunner().invoke(app, ["claims", str(results / "rows"), "--sweep", str(results), "--ratio-probe",
                                   str(results / "rows" / "fada_balanced"), "--out", str(out)])
    assert res.exit_code == 0, res.output

    def body(path):
        return [ln for ln in path.read_text().splitlines() if not ln.startswith("Generated by")]

    assert body(out) == body(results / "CLAIMS.md")
