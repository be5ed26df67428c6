"""Figures 3 and 4 of the paper: FVD and Sync-D against cfg_a (at cfg_r = 2.0) and against cfg_r
(at cfg_a = 6.5), from a CFG sweep's summary. matplotlib with the Agg backend, PNG and SVG."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .summary import higher_is_better

FIGURES = {"figure3": ("cfg_a", "cfg_r"), "figure4": ("cfg_r", "cfg_a")}   # (x axis, held fixed)
LABELS = {"cfg_a": "audio guidance scale cfg_a", "cfg_r": "reference guidance scale cfg_r"}


def sweep_points(summary: pd.DataFrame, points: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Join the sweep's grid (method, cfg_a, cfg_r) with one metric's mean and CI from the summary."""
    rows = summary[summary["metric"] == metric][["method", "backbone", "mean", "ci95_low", "ci95_high", "n", "n_failed"]]
    return points.merge(rows, on="method", how="left")


def cfg_figure(summary: pd.DataFrame, points: pd.DataFrame, figure: str, metrics: list[str], fixed: float,
               out_stem: Path, title: str) -> list[Path]:
    """One figure: a panel per metric, the metric's mean and 95% CI against the swept scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, fixed_name = FIGURES[figure]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        d = sweep_points(summary, points, metric)
        d = d[(d[fixed_name] - fixed).abs() < 1e-9].sort_values(x_name)
        d = d[d["mean"].notna()]
        if d.empty:
            ax.text(0.5, 0.5, f"no {metric} values", ha="center", va="center", transform=ax.transAxes)
        else:
            err = [d["mean"] - d["ci95_low"], d["ci95_high"] - d["mean"]]
            ax.errorbar(d[x_name], d["mean"], yerr=err, marker="o", capsize=3)
            ax.set_ylabel(f"{metric} [{d['backbone'].iloc[0]}] (mean, 95% CI)")
        ax.set_xlabel(LABELS[x_name])
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: {fixed_name} = {fixed:g}")
    fig.tight_layout()
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_stem.with_suffix(f".{ext}")
        tmp = p.with_name(f".{p.name}.tmp.{ext}")
        fig.savefig(tmp, dpi=120)
        tmp.replace(p)
        paths.append(p)
    plt.close(fig)
    return paths


def log_axis_labels(ax) -> None:
    """Label a log-scaled x axis at 1, 2 and 5 times each power of ten, in plain numbers ("0.5",
    "20"), and hide each label that would overlap the one before it (a span of several decades
    on a narrow panel)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=30))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = ax.get_xlim()
    last = None
    for tick in ax.xaxis.get_major_ticks():
        label = tick.label1
        if not (lo <= tick.get_loc() <= hi) or not label.get_text():
            continue
        box = label.get_window_extent(renderer)
        if last is not None and box.x0 < last.x1 + 4:       # 4 px between labels at least
            label.set_visible(False)
        else:
            last = box


def speed_quality_figure(summary: pd.DataFrame, quality: tuple[str, ...] = ("sync_d", "fvd")):
    """Each timed method as a point: seconds per video-second (log axis) against Sync-D and FVD,
    each axis labelled with its direction. A matplotlib Figure, or None when the run has no wall-clock
    or no quality metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = summary[summary["metric"] == "sec_per_video_sec"].set_index("method")
    panels = [q for q in quality if (summary["metric"] == q).any()]
    if speed.empty or not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False)
    for ax, q in zip(axes[0], panels):
        rows = summary[summary["metric"] == q].set_index("method")
        for method in speed.index.intersection(rows.index):
            s, r = speed.loc[method], rows.loc[method]
            ax.errorbar(s["mean"], r["mean"], xerr=[[s["mean"] - s["ci95_low"]], [s["ci95_high"] - s["mean"]]],
                        yerr=[[r["mean"] - r["ci95_low"]], [r["ci95_high"] - r["mean"]]], marker="o", capsize=3)
            ax.annotate(method, (s["mean"], r["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("seconds per video-second (log scale)")
        backbone = rows["backbone"].iloc[0]
        arrow = {True: " \u2191", False: " \u2193"}.get(higher_is_better(q, backbone), "")
        ax.set_ylabel(f"{q} [{backbone}]{arrow}")
        ax.grid(alpha=0.3)
    fig.suptitle("speed against quality (mean, 95% CI; seconds: lower is better)")
    fig.tight_layout()
    for ax in axes[0]:
        log_axis_labels(ax)
    return fig


def speed_quality_png(summary: pd.DataFrame, quality: tuple[str, ...] = ("sync_d", "fvd")) -> bytes | None:
    """`speed_quality_figure` as PNG bytes (None where it has nothing to plot)."""
    import io

    import matplotlib.pyplot as plt

    fig = speed_quality_figure(summary, quality)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
