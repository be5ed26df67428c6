"""What every command group shares: the app, its sub-apps, the console and small option parsers."""
from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
# Metric keys carry brackets (fid[synthetic]) that rich would read as markup: escape() them.
from rich.markup import escape  # noqa: F401

from fada.errors import InputError  # noqa: F401  (the CLI prints these without a traceback)
from fada.train.interrupt import TrainingInterrupted

app = typer.Typer(help="FADA: training stack and talking-head benchmark.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Make, prepare and check data folders.", no_args_is_help=True)
app.add_typer(data_app, name="data")
weights_app = typer.Typer(help="List, verify and fetch the weight files (backbones and checkpoints).", no_args_is_help=True)
app.add_typer(weights_app, name="weights")
console = Console(stderr=True)


LOG_EVERY_S = 60.0      # a progress line in a log file at most this often per task


def _progress(description: str):
    """A live bar on a terminal; where stderr is a file or a pipe (`nohup ... > log`), where a live
    bar shows nothing until the end, plain lines instead (LogProgress)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not console.is_terminal:
        from .log_progress import LogProgress

        return LogProgress(console=console, every=LOG_EVERY_S)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)



def _split_names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _method_folders(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise InputError(f"--method-folder takes NAME=DIR, got {item!r}")
        out[name] = Path(folder)
    return out


def _run_with_progress(job, out: Path):
    """Run `job(advance, progress)` under one progress bar per method (on process 0); the job may add
    its own bars to `progress` (rich allows one live display at a time). Ctrl-C keeps what is done."""
    show = int(os.environ.get("RANK", "0")) == 0
    try:
        with _progress("run") as p:
            tasks: dict[str, int] = {}

            def advance(method: str, done: int, total: int) -> None:
                if method not in tasks:
                    tasks[method] = p.add_task(method, total=total)
                p.update(tasks[method], completed=done)

            return job(advance if show else None, p)
    except KeyboardInterrupt as e:
        console.print(f"[yellow]interrupted[/yellow]: finished samples are kept in {out}; "
                      "run the same command again to resume")
        if isinstance(e, TrainingInterrupted):      # a sweep training a row: Ctrl-C or SIGTERM
            console.print(escape(f"training {e}"), highlight=False)
        raise typer.Exit(getattr(e, "exit_code", 130))


def _report(result) -> None:
    """The summary table, the files written and the failures of a finished run (process 0)."""
    if result.summary is None:     # a process other than the first: process 0 reports
        return
    _print_summary(result.summary)
    console.print(f"wrote {result.out}/run.json, samples.parquet, summary.csv, summary.json and videos/")
    if result.not_summarised:
        console.print(escape(f"note: {result.out} also holds samples of {', '.join(result.not_summarised)} from an "
                             "earlier run; they are kept but not in this summary (name them in --methods to include them)"),
                      highlight=False)
    if result.n_failed:
        console.print(f"[yellow]warning[/yellow]: {result.n_failed} of {result.n_samples} samples failed "
                      "(samples.parquet has each error); the first:")
        for m, sid, err in result.failures[:5]:
            console.print(escape(f"  {m} {sid}: {err}"), highlight=False)
    if result.all_failed:
        raise typer.Exit(2)


def _print_summary(df) -> None:
    from rich.table import Table

    if df.empty:
        console.print("summary: no rows (no metric ran, and no method reported NFE or timing)")
        return
    table = Table(title="summary (mean and 95% interval)")
    for col in ("method", "metric", "mean", "95% CI", "n", "failed"):
        table.add_column(col, justify="right" if col not in ("method", "metric") else "left")
    for r in df.itertuples(index=False):
        ci = "-" if r.mean != r.mean else f"[{r.ci95_low:.4g}, {r.ci95_high:.4g}]"
        table.add_row(r.method, escape(f"{r.metric}[{r.backbone}]"), f"{r.mean:.4g}", ci, str(r.n), str(r.n_failed))
    Console().print(table)


def _warn_slow_dtype(device: str, dtype: str | None) -> None:
    """Says so on stderr when the chosen dtype is slow on this device (fada_bench.options)."""
    from ..options import slow_dtype_warning

    msg = slow_dtype_warning(device, dtype)
    if msg:
        console.print(escape(f"warning: {msg}"), highlight=False)
