"""`fada-bench report`: one self-contained HTML page of a run (summary with CIs, figures, videos
beside the ground truth, run.json); rendered by headless Chromium where it is installed."""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from fada.errors import InputError
from fada_bench.registry import METRICS
from fada_bench.report import build_report
from fada_bench.runner import RunConfig, run_benchmark
from harness_toys import TOYS
from harness_util import bench_env


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells, self._cell, self.pre = [], [], None, ""
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = ""
        self._in_pre = tag == "pre" or self._in_pre

    def handle_endtag(self, tag):
        if tag == "td":
            self.cells.append(self._cell)
            self._cell = None
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_pre:
            self.pre += data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    e = bench_env(root)
    old = {k: os.environ.get(k) for k in e}
    os.environ.update(e)
    added = [k for k, cls in TOYS.items() if k not in METRICS and METRICS.add(k, cls) is not None]
    out = root / "run"
    run_benchmark(RunConfig(methods=["ground_truth", "static"], suite="synthetic", out=out, limit=2, metrics=list(TOYS)))
    yield out
    for k in added:
        METRICS.remove(k)
    for k, v in old.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text())
    return p


def test_report_embeds_summary_videos_and_run_json(run_dir):
    page = parse(build_report(run_dir, per_method=2))
    summary = pd.read_csv(run_dir / "summary.csv")
    r = summary[(summary["method"] == "static")].iloc[0]
    assert any(c.startswith(f"{r['mean']:.4g} [{r['ci95_low']:.4g}, {r['ci95_high']:.4g}]") for c in page.cells)
    videos = [a["src"] for t, a in page.tags if t == "video"]
    assert len(videos) == 4                      # 2 static samples, each beside its ground truth
    first = sorted((run_dir / "videos" / "static").glob("*.mp4"))[0]
    assert base64.b64decode(videos[0].split(",", 1)[1]) == first.read_bytes()
    assert '"suite": "synthetic"' in page.pre and '"seeds"' in page.pre


def test_linked_videos_point_at_the_run_files(run_dir):
    page = parse(build_report(run_dir, per_method=1, embed_videos=False))
    srcs = [a["src"] for t, a in page.tags if t == "video"]
    assert srcs and all((run_dir / s).is_file() for s in srcs)


def test_figures_in_the_run_folder_are_embedded(run_dir, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    plt.plot([0, 1], [1, 0])
    plt.savefig(copy / "figure3_cfg_a.png")
    plt.close()
    page = parse(build_report(copy))
    imgs = [a["src"] for t, a in page.tags if t == "img"]
    assert len(imgs) == 1 and base64.b64decode(imgs[0].split(",", 1)[1])[:4] == b"\x89PNG"


def test_a_folder_without_a_run_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a finished run"):
        build_report(tmp_path)


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt install chromium)")
def test_chromium_renders_a_non_blank_page(run_dir, tmp_path):
    import numpy as np
    from PIL import Image

    page = build_report(run_dir)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,900", page.as_uri()], check=True, timeout=120, capture_output=True)
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.std() > 5 and (img < 128).mean() > 0.001      # text on a white page, not a blank one


def test_speed_quality_plot_needs_wallclock_and_quality():
    from fada_bench.plots import speed_quality_png

    rows = [("teacher", "sec_per_video_sec", "wallclock", 40.0), ("fast", "sec_per_video_sec", "wallclock", 3.0),
            ("teacher", "sync_d", "synthetic", 0.6), ("fast", "sync_d", "synthetic", 0.7)]
    df = pd.DataFrame([{"method": m, "metric": k, "backbone": b, "mean": v, "ci95_low": v * 0.9,
                        "ci95_high": v * 1.1, "n": 4, "n_failed": 0} for m, k, b, v in rows])
    png = speed_quality_png(df)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert speed_quality_png(df[df["metric"] != "sec_per_video_sec"]) is None


def test_the_summary_puts_metrics_beyond_the_paper_in_a_group_of_their_own():
    from fada_bench.report import summary_table
    from fada_bench.summary import SUMMARY_COLUMNS

    summary = pd.DataFrame([("teacher", "lmd", "synthetic", 0.05, 0.04, 0.06, 6, 0),
                            ("teacher", "fid", "synthetic", 12.0, 11.0, 13.0, 6, 0),
                            ("teacher", "nfe_d", "counted", 75.0, 75.0, 75.0, 6, 0)], columns=SUMMARY_COLUMNS)
    page = Page()
    page.feed(summary_table(summary))
    heads = [attrs.get("colspan") for tag, attrs in page.tags if tag == "th"]
    assert heads[:3] == [None, "2", "1"]            # empty, the paper's (fid, nfe_d), beyond (lmd)
    html_text = summary_table(summary)
    assert html_text.index("fid[synthetic]") < html_text.index("nfe_d[counted]") < html_text.index("lmd[synthetic]")
    assert "beyond the paper" in html_text
    assert page.cells == ["teacher", "12 [11, 13]", "75 [75, 75]", "0.05 [0.04, 0.06]"]
