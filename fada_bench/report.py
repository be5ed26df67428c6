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

from .store import RunStore

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
tr:nth-child(even) { background: #f6f6f6; }
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


def summary_table(summary: pd.DataFrame) -> str:
    """Methods as rows, metrics as columns: "mean [low, high]" in each cell. The metrics the paper
    does not report come last, under a group heading of their own ("beyond the paper")."""
    if summary.empty:
        return "<p>No summary rows (no metric ran).</p>"
    from .tables import BEYOND, beyond_the_paper

    beyond = [f"{m}[{b}]" for m, b in beyond_the_paper(summary)]
    cols = list(dict.fromkeys(f"{m}[{b}]" for m, b in zip(summary["metric"], summary["backbone"])))
    cols = [c for c in cols if c not in beyond] + beyond
    methods = list(dict.fromkeys(summary["method"]))
    cell = {(r.method, f"{r.metric}[{r.backbone}]"): r for r in summary.itertuples(index=False)}
    out = ["<table>"]
    if beyond:
        out.append(f"<tr><th></th><th colspan={len(cols) - len(beyond)}>the paper's metrics and costs</th>"
                   f"<th colspan={len(beyond)}>{BEYOND}</th></tr>")
    out.append("<tr><th>method</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
    for m in methods:
        row = [f"<td>{html.escape(m)}</td>"]
        for c in cols:
            r = cell.get((m, c))
            if r is None:
                row.append("<td>-</td>")
                continue
            text = _fmt(r.mean) + ("" if r.ci95_low != r.ci95_low else f" [{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]")
            failed = f' <span class="failed">({int(r.n_failed)} failed)</span>' if r.n_failed else ""
            row.append(f"<td title=\"n = {int(r.n)}\">{html.escape(text)}{failed}</td>")
        out.append("<tr>" + "".join(row) + "</tr>")
    return "\n".join(out) + "</table>"


def _video_tag(path: Path, root: Path, embed: bool, caption: str) -> str:
    src = _data_uri(path, "video/mp4") if embed else html.escape(str(path.relative_to(root)))
    return (f'<figure><video controls loop muted preload="metadata" src="{src}"></video>'
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
        "<h2>Summary (mean [95% CI])</h2>", summary_table(summary),
        "<h2>Figures</h2>", figs or "<p>No figures in this run folder (a CFG sweep writes them).</p>",
        "<h2>Samples</h2>", video_section(root, samples, per_method, embed_videos),
        "<h2>Failed samples</h2>", failures_section(samples),
        "<h2>run.json</h2>", f"<pre>{html.escape(json.dumps(run, indent=1))}</pre>",
    ]
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    store.write_text("report.html", page)
    return root / "report.html"
