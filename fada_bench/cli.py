"""The `fada-bench` command. Each command is a thin shell over a library function."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="FADA: training stack and talking-head benchmark.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Make, prepare and check data folders.", no_args_is_help=True)
app.add_typer(data_app, name="data")
weights_app = typer.Typer(help="List, verify and fetch the weight files (backbones and checkpoints).", no_args_is_help=True)
app.add_typer(weights_app, name="weights")
console = Console(stderr=True)


from fada.errors import InputError  # noqa: E402  (the CLI prints these without a traceback)


def _progress(description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(Path("data/synthetic"), "--out", help="Folder to write (resumes a partial one)."),
    n_train: int = typer.Option(200, "--n-train", help="Training clips (sets A and B)."),
    n_test: int = typer.Option(100, "--n-test", help="Test clips, one unseen identity each."),
    n_openset: Optional[int] = typer.Option(None, "--n-openset", help="Open-set clips with out-of-distribution styles (default: n-test/5)."),
    size: int = typer.Option(128, "--size", help="Frame side in pixels (64, 128, 512, ...)."),
    seconds: float = typer.Option(2.0, "--seconds", help="Clip length."),
    seed: int = typer.Option(0, "--seed"),
    clean_fraction: float = typer.Option(0.4, "--clean-fraction", help="Share of train clips without defects."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: CPU count)."),
):
    """Render a synthetic talking-face world: clips, per-frame ground truth, manifest, splits."""
    from fada.data.synthetic.build import WorldConfig, build_world

    cfg = WorldConfig(n_train=n_train, n_test=n_test,
                      n_openset=n_test // 5 if n_openset is None else n_openset,
                      size=size, seed=seed, seconds=seconds, clean_fraction=clean_fraction)
    import time

    t0 = time.perf_counter()
    with _progress("synth") as p:
        task = p.add_task("rendering clips", total=cfg.n_train + cfg.n_test + cfg.n_openset)
        rows = build_world(out, cfg, workers, progress=lambda done, total: p.update(task, completed=done))
    secs = time.perf_counter() - t0
    frames = sum(r["n_frames"] for r in rows)
    tiers = {t: sum(r["tier"] == t for r in rows if r["split"] == "train") for t in ("A", "B", "rejected")}
    console.print(f"wrote {len(rows)} clips ({frames} frames at {size} px) to {out} in {secs:.1f} s; "
                  f"train tiers from the filters: A {tiers['A']}, B-only {tiers['B']}, rejected {tiers['rejected']}")


@data_app.command("verify")
def data_verify(folder: Path = typer.Argument(..., help="A prepared or synthetic data folder."),
                deep: bool = typer.Option(True, "--deep/--quick", help="Decode every video (slow) or only probe it.")):
    """Check a data folder: every file readable, audio present, frame counts match, split ids exist."""
    from rich.table import Table

    from fada.data.verify import verify_folder

    with _progress("verify") as p:
        task = p.add_task("checking clips", total=None)
        problems, n = verify_folder(folder, deep=deep, progress=lambda d, t: p.update(task, completed=d, total=t))
    if not problems:
        console.print(f"[green]ok[/green]: {n} clips in {folder}, no problems")
        return
    table = Table(title=f"{len(problems)} problems in {folder}")
    for col in ("item", "problem"):
        table.add_column(col)
    for item, problem in problems:
        table.add_row(item, problem)
    Console().print(table)
    raise typer.Exit(1)


@data_app.command("prepare")
def data_prepare(
    dataset: str = typer.Argument(..., help="hdtf or celebvhq."),
    raw: Path = typer.Option(..., "--raw", help="Folder of raw videos (mp4, mov, mkv, webm, avi; searched recursively)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write (resumes a partial one) (default: data/DATASET)."),
    size: int = typer.Option(512, "--size", help="Side of the square face crop in pixels."),
    min_seconds: float = typer.Option(2.0, "--min-seconds", help="Shortest clip; a shorter tail is dropped."),
    max_seconds: float = typer.Option(10.0, "--max-seconds", help="Longest clip; longer face stretches are cut."),
    workers: int = typer.Option(1, "--workers", help="Processes, one raw video each."),
):
    """Cut raw HDTF or CelebV-HQ videos into 25 fps face-cropped clips, score them, write the manifest."""
    import time

    from rich.table import Table

    from fada.data.prepare import PrepareConfig, check_inputs, prepare_dataset

    cfg = PrepareConfig(dataset, size=size, min_seconds=min_seconds, max_seconds=max_seconds)
    out = out or Path("data") / dataset
    check_inputs(raw, out, cfg)  # a missing folder or other settings: an error before the progress bar
    t0 = time.perf_counter()
    with _progress("prepare") as p:
        task = p.add_task(f"cutting {dataset} videos", total=None)
        rows = prepare_dataset(raw, out, cfg, workers, progress=lambda d, t: p.update(task, completed=d, total=t))
    ok = [r for r in rows if r["status"] == "ok"]
    skipped = [r for r in rows if r["status"] != "ok"]
    tiers = {t: sum(r["tier"] == t for r in ok) for t in ("A", "B", "rejected")}
    console.print(f"wrote {len(ok)} clips ({sum(r['n_frames'] for r in ok) / cfg.fps / 60:.1f} min at {size} px) "
                  f"from {len({r['source'] for r in rows})} raw videos to {out} in {time.perf_counter() - t0:.1f} s; "
                  f"tiers from the filters: A {tiers['A']}, B-only {tiers['B']}, rejected {tiers['rejected']}")
    if skipped:
        shown = "" if len(skipped) <= 20 else ", the first 20 here"
        table = Table(title=f"{len(skipped)} skipped (all in the manifest with status 'skipped'{shown})")
        for col in ("source", "start_s", "reason"):
            table.add_column(col)
        for r in skipped[:20]:
            table.add_row(r["source"], f"{r['start_s']:.1f}" if "start_s" in r else "", r["reason"])
        console.print(table)


@data_app.command("split")
def data_split(
    dataset: str = typer.Argument(..., help="hdtf, celebvhq or synthetic."),
    data: Optional[Path] = typer.Option(None, "--data", help="The prepared folder (default: data/DATASET)."),
    n: int = typer.Option(100, "--n", help="Clips in the test split."),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="Split file to write (default: results/splits/DATASET.json)."),
):
    """Choose a seeded test split: n usable clip ids, written as a split file."""
    from fada.data.splits import make_test_split

    split = make_test_split(dataset, data or Path("data") / dataset, n, seed, out)
    if split.n_available < split.n_requested:
        console.print(f"[yellow]only {split.n_available} usable clips, fewer than --n {split.n_requested}: "
                      f"the split takes all of them[/yellow]")
    console.print(f"wrote {len(split.ids)} {dataset} test ids (seed {seed}) to {split.path}")


# ----------------------------------------------------------------------------- benchmark
# Metric keys carry brackets (fid[synthetic]) that rich would read as markup: escape() them.
from rich.markup import escape  # noqa: E402

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


@app.command("run")
def run(
    methods: str = typer.Option(..., "--methods", help="Comma-separated method names (`fada-bench list methods`)."),
    suite: str = typer.Option("synthetic", "--suite", help="Suite name (`fada-bench list suites`)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the suite's first N samples."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder; a second run on it resumes (default: runs/SUITE)."),
    seed: int = typer.Option(0, "--seed", help="Seeds generation (per sample) and the bootstrap."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metric keys, or 'none' "
                                          "(default: every metric whose backbone is available for the suite)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (cuda:N)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared data folder for hdtf / celebvhq (default: data/SUITE)."),
    method_folder: list[str] = typer.Option([], "--method-folder", help="NAME=DIR: videos of a precomputed method (repeatable)."),
    decoder: str = typer.Option("vae", "--decoder", help="FADA generators decode with their VAE (vae) or the small decoder distilled from it (fast); use a separate --out for each."),
):
    """Generate and score: writes run.json, samples.parquet, summary.csv/.json and videos/ under --out."""
    import torch

    from .runner import RunConfig, run_benchmark

    if not (device == "cpu" or device.startswith("cuda")):
        raise InputError(f"--device must be cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA device here; use --device cpu")
    names = None if metrics is None else ([] if metrics.strip().lower() == "none" else _split_names(metrics))
    cfg = RunConfig(methods=_split_names(methods), suite=suite, out=out or Path("runs") / suite, limit=limit,
                    seed=seed, metrics=names, device=device, data=data, method_folders=_method_folders(method_folder),
                    decoder=decoder)
    result = _run_with_progress(lambda advance, _: run_benchmark(cfg, advance), cfg.out)
    _report(result)


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
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/yellow]: finished samples are kept in {out}; "
                      "run the same command again to resume")
        raise typer.Exit(130)


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


@app.command("list")
def list_(what: str = typer.Argument(..., help="methods, suites or metrics")):
    """Print the registered methods, suites or metrics, one line each."""
    from rich.table import Table

    from .registry import METHODS, METRICS, SUITES, list_metrics

    if what not in ("methods", "suites", "metrics"):
        raise InputError(f"list takes methods, suites or metrics, got {what!r}")
    table = Table(box=None, pad_edge=False)
    if what == "methods":
        for col in ("method", "adapter", "sampler", "steps", "cfg", "expected NFE", "also", "description"):
            table.add_column(col, overflow="fold")
        for name, card in METHODS.items():
            s = card.summary_line()
            table.add_row(name, s["adapter"], s["sampler"], s["steps"], s["cfg"], s["expected_nfe"],
                          ", ".join(METHODS.aliases_of(name)), escape(card.description))
    elif what == "suites":
        for col in ("suite", "world", "description"):
            table.add_column(col)
        for name, cls in SUITES.items():
            table.add_row(name, cls.world, cls.description)
    else:
        for col in ("metric", "backbone", "kind", "synthetic world", "real world"):
            table.add_column(col, overflow="fold")
        synthetic = {k: (ok, why) for k, _, ok, why in list_metrics("synthetic")}
        for key, cls, ok, why in list_metrics("real"):
            state = lambda ok, why: "weights present" if ok else escape(f"missing: {why}")   # noqa: E731
            table.add_row(escape(key), cls.backbone, "per sample" if cls.per_sample else "per set",
                          state(*synthetic[key]), state(ok, why))
        if not len(METRICS.names()):
            console.print("no metrics registered")
    Console(width=200).print(table)


@app.command("sweep")
def sweep(
    what: str = typer.Argument(..., help="cfg (Figures 3-4), or table1, table2, table3, table4."),
    method: str = typer.Option("fada_fast", "--method", help="sweep cfg: the method whose guidance scales are swept."),
    suite: str = typer.Option("synthetic", "--suite", help="Suite name (`fada-bench list suites`)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the suite's first N samples."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder; resumes (default: runs/sweep-WHAT-SUITE)."),
    seed: int = typer.Option(0, "--seed", help="Seeds generation (per sample) and the bootstrap."),
    cfg_a: Optional[str] = typer.Option(None, "--cfg-a", help="sweep cfg: cfg_a values at cfg_r = 2.0 (default: 1,2.5,4,5.5,6.5,8)."),
    cfg_r: Optional[str] = typer.Option(None, "--cfg-r", help="sweep cfg: cfg_r values at cfg_a = 6.5 (default: 1,1.5,2,2.5,3)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metrics (default: fvd,sync_d for cfg; every available for tables)."),
    train_missing: bool = typer.Option(True, "--train/--no-train", help="Tables: train the rows' missing checkpoints first."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared data folder for hdtf / celebvhq (default: data/SUITE)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (cuda:N)."),
):
    """Figures 3-4 (a CFG sweep, PNG and SVG) or every row of a paper table (training missing checkpoints)."""
    from . import sweep as sw

    out = out or Path("runs") / f"sweep-{what}-{suite}"
    names = None if metrics is None else _split_names(metrics)
    if what == "cfg":
        floats = lambda text, default: default if text is None else tuple(float(x) for x in _split_names(text))  # noqa: E731
        try:
            a_values, r_values = floats(cfg_a, sw.DEFAULT_CFG_A), floats(cfg_r, sw.DEFAULT_CFG_R)
        except ValueError:
            raise InputError(f"--cfg-a and --cfg-r take comma-separated numbers, got {cfg_a!r}, {cfg_r!r}") from None
        result, paths = _run_with_progress(
            lambda advance, _: sw.run_cfg_sweep(method, suite, out, limit=limit, seed=seed, a_values=a_values,
                                             r_values=r_values, metrics=tuple(names or sw.SWEEP_METRICS),
                                             data=data, device=device, progress=advance), out)
        _report(result)
        for p in paths:
            console.print(f"wrote {p}")
        return
    if what not in ("table1", "table2", "table3", "table4"):
        raise InputError(f"sweep takes cfg, table1, table2, table3 or table4, got {what!r}")
    table_no = int(what[-1])

    def job(advance, bars):
        task = {}

        def on_train(name):
            task["id"] = bars.add_task(f"train {name}", total=None)

        def step(done, total, loss):
            bars.update(task["id"], completed=done, total=total, description=f"train loss {loss:.4f}")
        return sw.run_table_sweep(table_no, suite, out, limit=limit, seed=seed, train=train_missing,
                                  metrics=names, data=data, device=device, progress=advance,
                                  on_train=on_train, train_progress=step)
    result, path = _run_with_progress(job, out)
    _report(result)
    if result.summary is not None:
        console.print(f"wrote {path}")


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    per_method: int = typer.Option(3, "--per-method", help="Sample videos shown per method."),
    link_videos: bool = typer.Option(False, "--link-videos", help="Link the mp4 files instead of embedding them."),
):
    """One self-contained HTML page: summary with CIs, figures, sample videos beside the ground truth, run.json."""
    from .report import build_report

    console.print(f"wrote {build_report(run_dir, per_method, embed_videos=not link_videos)}")


@app.command("speed")
def speed(
    methods: str = typer.Option("teacher,fada_balanced,fada_fast", "--methods", help="Comma-separated FADA method cards."),
    config: str = typer.Option("tiny", "--config", help="Model config: tiny or sd15 (random weights; no file is read)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (cuda:N)."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, bf16 or fp16 (the models' weights and activations)."),
    frames: int = typer.Option(16, "--frames", help="Frames per timed clip (25 fps)."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Frame size in pixels (default: the config's, tiny 64, sd15 512)."),
    repeats: int = typer.Option(3, "--repeats", help="Timed clips per method, after one untimed warm-up clip."),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help="The device's peak TFLOP/s for the fraction of peak (default: datasheet for known GPUs)."),
    compile_: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the denoiser."),
    sdpa: bool = typer.Option(True, "--sdpa/--no-sdpa", help="PyTorch SDPA attention kernels (off: the classic softmax attention)."),
    batch_cfg: bool = typer.Option(True, "--batch-cfg/--no-batch-cfg", help="Eq. 9's three branches in one denoiser call."),
    vae_chunk: int = typer.Option(8, "--vae-chunk", help="Frames per VAE decoder call."),
    overlap_decode: bool = typer.Option(False, "--overlap-decode/--no-overlap-decode", help="Decode each window beside the next one's denoising (a CUDA side stream; a worker thread on CPU). Needs --frames above one window."),
    decoder: str = typer.Option("vae", "--decoder", help="vae, or fast: the small decoder distilled from the VAE's (fada.models.fast_decoder)."),
    out: Optional[Path] = typer.Option(None, "--out", help="CSV to write (default: results/perf/speed-CONFIG-DEVICE-DTYPE.csv); a .json beside it."),
):
    """Seconds per video-second, first-clip latency, peak memory and achieved TFLOP/s per method (random weights)."""
    import json

    from fada.data.io import write_csv_atomic, write_text_atomic

    from .speed import STAGES, SpeedConfig, run_speed

    cfg = SpeedConfig(methods=_split_names(methods), config=config, device=device, dtype=dtype, frames=frames,
                      repeats=repeats, peak_tflops=peak_tflops, resolution=resolution,
                      fast={"compile": compile_, "sdpa": sdpa, "batch_cfg": batch_cfg, "vae_chunk": vae_chunk,
                            "overlap_decode": overlap_decode, "decoder": decoder})
    with _progress("speed") as p:
        task = p.add_task("speed", total=len(cfg.methods))
        rows = run_speed(cfg, lambda name, done, total: p.update(task, completed=done, description=f"speed {name}"))
    csv_rows = [dict(r) for r in rows]
    for r in rows:
        r["fast_path"] = cfg.fast
    dev_tag = "cuda" if device.startswith("cuda") else "cpu"
    out = out or Path("results") / "perf" / f"speed-{config}-{dev_tag}-{dtype}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, csv_rows)
    write_text_atomic(out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
    from rich.table import Table

    t = Table(title=f"speed: {config}, {rows[0]['device']} ({rows[0]['processor']}, {rows[0]['threads']} threads), {dtype}, {frames} frames, median of {repeats}")
    for col in ("method", "NFE/window", "s per video-s (min-max)", "first clip s", "peak GB", "GFLOP/clip",
                "TFLOP/s", "of peak", *[f"{s} s" for s in STAGES]):
        t.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        t.add_row(r["method"], str(r["nfe_per_window"]),
                  f"{r['sec_per_video_sec']:.3g} ({r['sec_per_video_sec_min']:.3g}-{r['sec_per_video_sec_max']:.3g})",
                  f"{r['first_clip_latency_s']:.3g}", f"{r['peak_mem_gb']:.2f}", f"{r['gflop_per_clip']:.4g}",
                  f"{r['achieved_tflops']:.3g}", "-" if r["peak_fraction"] != r["peak_fraction"] else f"{r['peak_fraction']:.1%}",
                  *[f"{r[f'{s}_s']:.3g}" for s in STAGES])
    Console(width=220).print(t)
    console.print(f"wrote {out} and {out.with_suffix('.json')}")


@app.command("table")
def table(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders (their summary.csv and run.json)."),
    paper: int = typer.Option(..., "--paper", help="The paper's table: 1, 2, 3 or 4."),
    fmt: str = typer.Option("md", "--format", help="md, csv or latex."),
    ours_only: bool = typer.Option(False, "--ours-only", help="Only our columns, and only the rows we have values for (no paper numbers)."),
):
    """The paper's table with its numbers and ours side by side (ours: mean [95% CI], with backbone)."""
    from .tables import render

    typer.echo(render(paper, run_dirs, fmt, only_ours=ours_only), nl=False)


@app.command("claims")
def claims(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders holding the cards of Tables 1-4 (a method in several: the first)."),
    sweep: Optional[Path] = typer.Option(None, "--sweep", help="A `fada-bench sweep cfg` folder (its sweep.csv), for Figures 3-4."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write CLAIMS.md here (text under its '## Notes' heading is kept); default: print."),
    runs_root: Optional[Path] = typer.Option(None, "--training-logs", help="Checkpoints folder whose log.jsonl give each row's steps, training time and device (default: none)."),
):
    """Each claim of the paper with our numbers, the paper's and a verdict (holds, does not hold, inconclusive, not measured yet)."""
    import shlex
    import sys

    from .claims import check_claims, kept_notes, merged_summary, read_sweep, render
    from fada.data.io import write_text_atomic

    verdicts = check_claims(merged_summary(run_dirs), read_sweep(sweep) if sweep else None)
    command = "fada-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["claims"] else "fada-bench claims"
    text = render(verdicts, command, runs_root, kept_notes(out) if out else "")
    if out is None:
        typer.echo(text)
        return
    write_text_atomic(out, text)
    for v in verdicts:
        console.print(f"claim {v.claim}: {v.verdict}")
    console.print(f"wrote {out}")


@app.command("baseline")
def baseline(run_dir: Path = typer.Argument(..., help="A finished run folder."),
             out: Path = typer.Option(Path("results/baselines/synthetic.json"), "--out", help="Baseline file to write.")):
    """Write a drift baseline from a run: each metric's mean and its tolerance (from its CI)."""
    from .drift import make_baseline

    b = make_baseline(run_dir, out)
    console.print(f"wrote {len(b['metrics'])} metrics of {run_dir} to {out} ({b['rule']})")


@app.command("check")
def check(run_dir: Path = typer.Argument(..., help="A finished run folder (with --rerun: where to make it)."),
          baseline: Path = typer.Option(..., "--baseline", help="Baseline file (`fada-bench baseline`)."),
          rerun: bool = typer.Option(False, "--rerun", help="First repeat the run the baseline was made from "
                                     "(its methods, suite, sample count, seed and metrics) into RUN_DIR; resumes.")):
    """Compare a run with a baseline; exit 1 and name each metric that drifted past its tolerance."""
    from .drift import check_run, rerun_config

    if rerun:
        from .runner import run_benchmark

        cfg = rerun_config(baseline, run_dir)
        result = _run_with_progress(lambda advance, _: run_benchmark(cfg, advance), cfg.out)
        if result.n_failed:
            for m, sid, err in result.failures[:5]:
                console.print(escape(f"failed: {m} {sid}: {err}"), highlight=False)
    drifts, n = check_run(baseline, run_dir)
    if drifts:
        for d in drifts:
            typer.echo(f"DRIFT {d}")
        typer.echo(f"{len(drifts)} of {n} metrics drifted past their tolerance")
        raise typer.Exit(1)
    typer.echo(f"ok: {n} metrics within tolerance of {baseline}")


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="A recipe name from recipes/ (e.g. teacher_tiny) or a YAML path."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/RECIPE)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the run folder's last checkpoint."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the recipe's total steps."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", help="Stop (with a checkpoint) at this step, to train in chunks."),
    export: Optional[Path] = typer.Option(None, "--export", help="Do not train: write the last checkpoint's EMA weights as a model folder here (to score a run mid-training)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the networks: for a GPU, where a tiny model's many small operations each cost a launch (no faster on a CPU)."),
):
    """Train a model from a recipe (one readable accelerate loop; resumable after any interruption)."""
    from fada.train.recipe import load_recipe
    from fada.train.trainer import export_checkpoint, train

    r = load_recipe(recipe)
    if steps is not None:
        r.steps = steps
    out = out or Path("runs") / r.name
    if export is not None:
        step = export_checkpoint(r, out, export)
        console.print(f"{r.name}: step {step} of {r.steps} (EMA weights) written to {export}")
        return
    if int(os.environ.get("RANK", "0")) != 0:       # under torchrun / accelerate: one bar, from process 0
        train(r, out, resume=resume, stop_at=stop_at, compile=compile)
        return
    with _progress("train") as p:
        task = p.add_task(f"{r.name} ({r.kind})", total=r.steps)
        final = train(r, out, resume=resume, stop_at=stop_at, compile=compile,
                      progress=lambda done, total, loss: p.update(task, completed=done, description=f"{r.name} loss {loss:.4f}"))
    console.print(f"{r.name}: log in {out / 'log.jsonl'}" + (f", model in {final}" if final.exists() else ", checkpoint saved"))


def _weights_table(rows) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("kind", "name", "status", "path", "detail"):
        table.add_column(col, overflow="fold")
    colour = {"present": "green", "missing": "yellow", "bad checksum": "red"}
    for r in rows:
        state = r.state + ("" if r.verified or r.state != "present" else " (unverified)")
        table.add_row(r.kind, r.name, f"[{colour[r.state]}]{state}[/]", escape(r.path), escape(r.detail))
    Console(width=200).print(table)


@weights_app.command("list")
def weights_list(kind: Optional[str] = typer.Option(None, "--kind", help="standard, synthetic or model (default: all).")):
    """Every backbone and model file with its status: present (verified or not), missing, bad checksum."""
    from .weight_files import KINDS, all_status

    if kind is not None and kind not in KINDS:
        raise InputError(f"--kind takes {', '.join(KINDS)}, got {kind!r}")
    _weights_table(all_status((kind,) if kind else KINDS))


@weights_app.command("verify")
def weights_verify(names: Optional[list[str]] = typer.Argument(None, help="Files to check (default: every present file).")):
    """Check sha256 of the files; exit 1 naming each file that is corrupt (or, when named, missing)."""
    from .weight_files import all_status

    rows = all_status()
    if names:
        known = {r.name for r in rows}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(f"unknown weight file(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        rows = [r for r in rows if r.name in names]
    else:
        rows = [r for r in rows if r.state != "missing"]
    _weights_table(rows)
    bad = [r for r in rows if not r.ok]
    if bad:
        console.print(f"[red]{len(bad)} file(s) failed[/red]: " + ", ".join(f"{r.name} ({r.state})" for r in bad))
        raise typer.Exit(1)
    console.print(f"{len(rows)} file(s) ok")


SHIPPED_CHECKPOINTS = ("teacher_tiny/model", "fada_balanced_tiny/model", "fada_fast_tiny/model")
SHIPPED_LIMIT_MB = 60


@weights_app.command("pack")
def weights_pack(checkpoints: Optional[list[str]] = typer.Argument(
        None, help=f"Checkpoints under the checkpoints folder (default: {' '.join(SHIPPED_CHECKPOINTS)}).")):
    """Store trained checkpoints as the package's shipped weights (float16, shared files once, sha256 in
    fada_bench/weights/models.json), replacing what was shipped."""
    from .paths import checkpoints_dir
    from .shipped import BLOBS, pack, shipped_bytes

    names = list(checkpoints or SHIPPED_CHECKPOINTS)
    man = pack({c: checkpoints_dir() / c for c in names})
    mb = shipped_bytes() / 2**20
    for c, files in man.items():
        console.print(f"{c}: {len(files)} files")
    console.print(f"{BLOBS}: {mb:.1f} MB in all")
    if mb > SHIPPED_LIMIT_MB:
        console.print(f"[yellow]warning[/yellow]: over the {SHIPPED_LIMIT_MB} MB the package ships (issue 7)")


@weights_app.command("fetch")
def weights_fetch(
    name: str = typer.Argument(..., help="A standard backbone file (see `fada-bench weights list --kind standard`)."),
    url: Optional[str] = typer.Option(None, "--url", help="Download from here instead of the registered link."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder or file (default: first of $FADA_BENCH_WEIGHTS, ~/.cache/fada-bench/weights)."),
):
    """Download a weight file, resuming a partial download, and check its published checksum."""
    from .metrics.weights_registry import fetch

    path = fetch(name, url, dest)
    console.print(f"{name}: {path}")


def main():
    try:
        app()
    except (InputError, FileNotFoundError) as e:
        console.print(f"[red]error[/red]: {escape(str(e))}", highlight=False)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
