"""`fada-bench report`: one self-contained HTML page of a run (summary with CIs, figures, videos
beside the ground truth, run.json); rendered by headless Chromium where it is installed."""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
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
    # Each video carries its first frame as a poster, so the page shows it before playing.
    import cv2

    from fada.data.io import read_video

    poster = [a["poster"] for t, a in page.tags if t == "video"][0]
    png = np.frombuffer(base64.b64decode(poster.split(",", 1)[1]), np.uint8)
    got = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(got, read_video(first, fps=None, audio=False, max_frames=1).frames[0])
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


# ---------------------------------------------------------------------------- the page in a browser

# Debian's package installs /usr/bin/chromium; `.ci/run` installs it where it runs as root.
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")

# What a run of the main job and its anchors puts in summary.csv: the synthetic metrics and the
# rows of cost, for three generators and two anchors (the widest table a usual run makes).
WIDE = {"teacher": (2.16, 0.942, 153.4, 105.3, 0.123, 75, 975, 7.13, 3.1, 1.21),
        "fada_balanced": (2.16, 0.958, 128.7, 97.5, 0.0929, 18, 234, 1.94, 0.92, 1.19),
        "fada_fast": (2.15, 0.931, 153.2, 107.1, 0.121, 6, 78, 0.826, 0.41, 1.18),
        "static": (4.91, 1.18, 40.08, 11.95, 0.0102) + (None,) * 5,
        "ground_truth": (4.88, 0.479, 0.0758, 0.227, 4.8e-05) + (None,) * 5}
WIDE_KEYS = [("iqa", "synthetic"), ("sync_d", "synthetic"), ("fvd", "synthetic"), ("fid", "synthetic"),
             ("efid", "synthetic"), ("nfe_d", "counted"), ("nfe_total", "counted"),
             ("sec_per_video_sec", "wallclock"), ("first_clip_latency_s", "wallclock"), ("peak_mem_gb", "memory")]


@pytest.fixture(scope="module")
def wide_run(run_dir, tmp_path_factory):
    """The toy run's folder (its static and ground-truth videos) with the wide summary above."""
    out = tmp_path_factory.mktemp("wide") / "run"
    shutil.copytree(run_dir, out)
    rows = [{"method": m, "metric": k, "backbone": b, "mean": v, "ci95_low": v * 0.97, "ci95_high": v * 1.04,
             "n": 100, "n_failed": 0} for m, vals in WIDE.items() for (k, b), v in zip(WIDE_KEYS, vals) if v is not None]
    pd.DataFrame(rows).to_csv(out / "summary.csv", index=False)
    run = json.loads((out / "run.json").read_text())
    run["config"]["methods"] = list(WIDE)
    run["config"]["cards"] = {**{m: {"adapter": "fada"} for m in ("teacher", "fada_balanced", "fada_fast")},
                              "static": {"adapter": "static"}, "ground_truth": {"adapter": "ground_truth"}}
    (out / "run.json").write_text(json.dumps(run))
    return out


def test_headers_give_each_metrics_direction_and_the_best_value_is_marked(wide_run):
    page = parse(build_report(wide_run))
    heads = [a.get("title", "") for t, a in page.tags if t == "th"]
    for k, b in WIDE_KEYS:
        want = "higher is better" if k == "iqa" else "lower is better"   # Sync-D is a distance
        assert f"{k}[{b}]: {want}" in heads
    # Best means among the three generators (the anchors aside), row by row: IQA teacher and
    # fada_balanced tie at 2.16; FVD, FID, E-FID fada_balanced; Sync-D, NFE, seconds, memory fada_fast.
    rows = re.findall(r"<tr><td>(\w+).*?</tr>", (wide_run / "report.html").read_text())
    marked = re.findall(r'<td class="best"[^>]*>([^<]*)<', (wide_run / "report.html").read_text())
    assert marked == ["2.16 ", "2.16 ", "128.7 ", "97.5 ", "0.0929 ",
                      "0.931 ", "6 ", "78 ", "0.826 ", "0.41 ", "1.18 "]
    assert rows == list(WIDE)


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], check=True, timeout=180, capture_output=True, text=True)


# Runs in the page once it has loaded: what a reader sees, written into the DOM for --dump-dom.
MEASURE = """<script>
window.addEventListener("load", () => {
  const t = document.querySelector("table.summary"), imgs = [...document.images];
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    table_right: t.getBoundingClientRect().right, table_width: t.scrollWidth,
    table_box: t.parentElement.clientWidth,
    images: imgs.map(i => [i.alt, i.naturalWidth, i.getBoundingClientRect().width]),
    videos: [...document.querySelectorAll("video")].map(v => v.videoWidth),
  });
  document.body.appendChild(out);
});
</script>"""


@needs_chromium
@pytest.mark.parametrize("width", [1280, 1024])
def test_the_report_in_chromium_shows_table_figures_and_videos(wide_run, tmp_path, width):
    from PIL import Image

    page = build_report(wide_run)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = _chromium("--virtual-time-budget=10000", f"--window-size={width},900", "--dump-dom", probe.as_uri(),
                    tmp=tmp_path).stdout
    got = json.loads(html.unescape(re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S).group(1)))
    # The table fits the page: no horizontal scrolling of the page or of the table's own box.
    assert got["page"] <= got["viewport"], got
    assert got["table_right"] <= got["viewport"] and got["table_width"] <= got["table_box"], got
    # The speed/quality plot is decoded and shown, and the browser decodes every video: the toy
    # run's 2 static samples, each beside its ground truth.
    assert [a for a, w, shown in got["images"] if w > 0 and shown > 0] == ["speed against quality"]
    assert len(got["videos"]) == 4 and all(w > 0 for w in got["videos"]), got["videos"]

    shot = tmp_path / "shot.png"
    _chromium("--virtual-time-budget=10000", f"--screenshot={shot}", f"--window-size={width},2400", page.as_uri(),
              tmp=tmp_path)
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (2400, width)
    assert img.std() > 5 and (img < 128).mean() > 0.001      # text on a white page, not a blank one
    if os.environ.get("FADA_BENCH_KEEP_SCREENSHOT"):
        shutil.copy(shot, Path(os.environ["FADA_BENCH_KEEP_SCREENSHOT"]) / f"report-{width}.png")


def test_log_axis_labels_do_not_overlap():
    import matplotlib.pyplot as plt

    from fada_bench.plots import speed_quality_figure

    for lo, hi in ((0.8, 7.3), (0.05, 40.0), (0.011, 950.0), (3.0, 3.6)):
        rows = [(m, k, b, v) for m, s in (("a", lo), ("b", (lo * hi) ** 0.5), ("c", hi))
                for k, b, v in (("sec_per_video_sec", "wallclock", s), ("sync_d", "synthetic", 1.0), ("fvd", "synthetic", 100.0))]
        df = pd.DataFrame([{"method": m, "metric": k, "backbone": b, "mean": v, "ci95_low": v * 0.95,
                            "ci95_high": v * 1.05, "n": 4, "n_failed": 0} for m, k, b, v in rows])
        fig = speed_quality_figure(df)
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        for ax in fig.axes:
            x0, x1 = ax.get_xlim()
            shown = [t.label1 for t in ax.xaxis.get_major_ticks()
                     if x0 <= t.get_loc() <= x1 and t.label1.get_visible() and t.label1.get_text()]
            boxes = sorted((lab.get_window_extent(r) for lab in shown), key=lambda b: b.x0)
            assert len(boxes) >= 2, (lo, hi, [lab.get_text() for lab in shown])
            assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), (lo, hi, [lab.get_text() for lab in shown])
            assert all(float(lab.get_text()) > 0 for lab in shown)          # plain numbers, no "$10^{0}$"
        plt.close(fig)


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
