"""`fada-bench report RUN_DIR`: one self-contained HTML page of a run.

The page holds the summary (each metric's mean and 95% CI, with its backbone), the figures found
in the run folder (a CFG sweep's PNGs), for each method a few samples' videos beside the ground
truth, the per-sample status of failed samples, and run.json. Everything is embedded (images and
videos as data URIs), so the one file can be mailed or archived; `--link-videos` links the mp4
files by relative path instead, for runs whose videos are large.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from fada.errors import InputError

from .registry import ADAPTERS
from .store import RunStore
from .summary import higher_is_better

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
tr:nth-child(even) { background: #f6f6f6; }
table.summary { width: 100%; font-size: 13px; }
table.summary th { font-weight: 600; overflow-wrap: anywhere; }
table.summary th .backbone, table.summary .ci { font-size: 11px; color: #666; font-weight: normal; }
table.summary th .backbone { white-space: nowrap; }
table.summary td.best { background: #e3f1e3; font-weight: 700; }
.wide { overflow-x: auto; }
.note { font-size: 12px; color: #555; }
.videos { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
video { width: 192px; background: #000; } img { max-width: 100%; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
.failed { color: #a00; }
"""

def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.4g}"


def anchor_methods(run: dict) -> set[str]:
    """Methods whose card's adapter is a reference point (ground truth, static, VAE round trip)."""
    cards = (run.get("config") or {}).get("cards") or {}
    return {m for m, c in cards.items() if c.get("adapter") in ADAPTERS and ADAPTERS.get(c["adapter"]).anchor}


def best_methods(summary: pd.DataFrame, anchors: set[str]) -> dict[tuple[str, str], set[str]]:
    """(metric, backbone) -> the methods with the best mean among the non-anchor ones, where at
    least two of them have a value and the direction is known."""
    best = {}
    for (metric, backbone), rows in summary.groupby(["metric", "backbone"], sort=False):
        hib = higher_is_better(metric, backbone)
        rows = rows[~rows["method"].isin(anchors) & rows["mean"].notna()]
        if hib is None or len(rows) < 2:
            continue
        top = rows["mean"].max() if hib else rows["mean"].min()
        best[(metric, backbone)] = set(rows.loc[rows["mean"] == top, "method"])
    return best


def _header(metric: str, backbone: str) -> str:
    hib = higher_is_better(metric, backbone)
    arrow, why = {True: ("↑", "higher is better"), False: ("↓", "lower is better"),
                  None: ("", "direction unknown")}[hib]
    # A break after each underscore lets long names wrap inside a narrow column.
    name = html.escape(metric).replace("_", "_<wbr>")
    return (f'<th title="{html.escape(f"{metric}[{backbone}]")}: {why}">{name}&nbsp;{arrow}<br>'
            f'<span class="backbone">{html.escape(backbone)}</span></th>')


def summary_table(summary: pd.DataFrame, anchors: set[str] = frozenset()) -> str:
    """Methods as rows, metrics as columns: the mean over its 95% CI in each cell; each header
    says which way is better, and the best non-anchor value of each column is marked. The metrics
    the paper does not report come last, under a group heading of their own ("beyond the paper")."""
    if summary.empty:
        return "<p>No summary rows (no metric ran).</p>"
    from .tables import BEYOND, beyond_the_paper

    beyond = [tuple(c) for c in beyond_the_paper(summary)]
    cols = list(dict.fromkeys(zip(summary["metric"], summary["backbone"])))
    cols = [c for c in cols if c not in beyond] + beyond
    methods = list(dict.fromkeys(summary["method"]))
    cell = {(r.method, (r.metric, r.backbone)): r for r in summary.itertuples(index=False)}
    best = best_methods(summary, anchors)
    out = ['<div class="wide"><table class="summary">']
    if beyond:
        out.append(f"<tr><th></th><th colspan={len(cols) - len(beyond)}>the paper's metrics and costs</th>"
                   f"<th colspan={len(beyond)}>{BEYOND}</th></tr>")
    out.append("<tr><th>method</th>" + "".join(_header(*c) for c in cols) + "</tr>")
    for m in methods:
        label = html.escape(m) + (' <span class="backbone">(anchor)</span>' if m in anchors else "")
        row = [f"<td>{label}</td>"]
        for c in cols:
            r = cell.get((m, c))
            if r is None:
                row.append("<td>-</td>")
                continue
            ci = "" if r.ci95_low != r.ci95_low else f'<span class="ci">[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]</span>'
            failed = f' <span class="failed">({int(r.n_failed)} failed)</span>' if r.n_failed else ""
            mark = ' class="best"' if m in best.get(c, ()) else ""
            # The space before <br> keeps "mean [low, high]" as the cell's text when copied.
            row.append(f'<td{mark} title="n = {int(r.n)}">{_fmt(r.mean)} <br>{ci}{failed}</td>')
        out.append("<tr>" + "".join(row) + "</tr>")
    legend = ('<p class="note">↑ higher is better, ↓ lower is better (each metric\'s declared direction; '
              "NFE, seconds and memory are costs). Shaded bold: the best mean in its column")
    legend += (", anchors (" + ", ".join(sorted(anchors)) + ") aside" if anchors else "") + ".</p>"
    return "\n".join(out) + "</table></div>" + legend


def _poster(path: Path) -> str:
    """The video's first frame as a PNG data URI: a browser paints it before the video loads, so
    the page (and a printout or screenshot of it) shows every sample."""
    import cv2

    from fada.data.io import read_video

    try:
        frame = read_video(path, fps=None, audio=False, max_frames=1).frames[0]
    except Exception:        # an unreadable video still gets its tag; the browser says what is wrong
        return ""
    ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return f' poster="data:image/png;base64,{base64.b64encode(png.tobytes()).decode("ascii")}"' if ok else ""


def _video_tag(path: Path, root: Path, embed: bool, caption: str) -> str:
    src = _data_uri(path, "video/mp4") if embed else html.escape(str(path.relative_to(root)))
    return (f'<figure><video controls loop muted preload="metadata"{_poster(path)} src="{src}"></video>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def video_section(root: Path, samples: pd.DataFrame, per_method: int, embed: bool) -> str:
    ok = samples[(samples["status"] == "ok") & samples["video"].notna() & (samples["video"] != "")]
    methods = [m for m in dict.fromkeys(ok["method"]) if m != "ground_truth"]
    if not methods:
        return "<p>No generated videos.</p>"
    parts = []
    for m in methods:
        mine = ok[ok["method"] == m].head(per_method)
        figs = []
        for r in mine.itertuples(index=False):
            gt = root / "videos" / "ground_truth" / f"{r.sample}.mp4"
            figs.append('<div class="videos">' + _video_tag(root / r.video, root, embed, f"{m} · {r.sample}")
                        + (_video_tag(gt, root, embed, f"ground truth · {r.sample}") if gt.is_file() else "")
                        + "</div>")
        parts.append(f"<h3>{html.escape(m)}</h3>" + "".join(figs))
    if not (root / "videos" / "ground_truth").is_dir():
        parts.insert(0, "<p>This run has no <code>ground_truth</code> method, so the videos stand alone; "
                        "add <code>--methods ground_truth,...</code> to see them side by side.</p>")
    return "\n".join(parts)


def failures_section(samples: pd.DataFrame) -> str:
    bad = samples[samples["status"] != "ok"]
    if bad.empty:
        return "<p>Every sample finished.</p>"
    rows = "".join(f"<tr><td>{html.escape(str(r.method))}</td><td class=text>{html.escape(str(r.sample))}</td>"
                   f"<td class=text>{html.escape(str(r.status))}</td><td class=text>{html.escape(str(r.error))}</td></tr>"
                   for r in bad.itertuples(index=False))
    return f"<table><tr><th>method</th><th>sample</th><th>status</th><th>error</th></tr>{rows}</table>"


def build_report(run_dir: str | Path, per_method: int = 3, embed_videos: bool = True) -> Path:
    root = Path(run_dir)
    store = RunStore(root)
    run = store.read_json("run.json")
    if run is None or not (root / "summary.csv").is_file():
        raise InputError(f"{root} is not a finished run (no run.json and summary.csv); "
                         "make one with `fada-bench run`")
    summary = pd.read_csv(root / "summary.csv")
    samples = pd.read_parquet(root / "samples.parquet") if (root / "samples.parquet").is_file() else pd.DataFrame(
        columns=["method", "sample", "status", "error", "video"])
    cfg = run.get("config", {})
    figures = sorted(root.glob("*.png"))
    figs = "".join(f'<figure><img alt="{html.escape(p.stem)}" src="{_data_uri(p, "image/png")}">'
                   f"<figcaption>{html.escape(p.name)}</figcaption></figure>" for p in figures)
    from .plots import speed_quality_png

    sq = speed_quality_png(summary)
    if sq is not None:
        figs = ('<figure><img alt="speed against quality" src="data:image/png;base64,'
                + base64.b64encode(sq).decode("ascii") + '"><figcaption>speed against quality: each method '
                "as a point</figcaption></figure>") + figs
    title = f"fada-bench run: {', '.join(cfg.get('methods', []))} on {cfg.get('suite', '?')}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{cfg.get('n_samples', '?')} samples, seed {cfg.get('seed', '?')}, status {html.escape(str(run.get('status')))}, "
        f"commit {html.escape(str((run.get('git') or {}).get('commit', '?'))[:12])}.</p>",
        "<h2>Summary (mean [95% CI])</h2>", summary_table(summary, anchor_methods(run)),
        "<h2>Figures</h2>", figs or "<p>No figures in this run folder (a CFG sweep writes them).</p>",
        "<h2>Samples</h2>", video_section(root, samples, per_method, embed_videos),
        "<h2>Failed samples</h2>", failures_section(samples),
        "<h2>run.json</h2>", f"<pre>{html.escape(json.dumps(run, indent=1))}</pre>",
    ]
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    store.write_text("report.html", page)
    return root / "report.html"
