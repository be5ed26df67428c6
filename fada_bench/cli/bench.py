"""The benchmark commands: run, list, sweep, report, speed, table, claims, rows save, baseline, check."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .common import (InputError, _method_folders, _progress, _report, _run_with_progress, _split_names,
                     _warn_slow_dtype, app, console, escape)


@app.command("run")
def run(
    methods: str = typer.Option(..., "--methods", help="Comma-separated method names (`fada-bench list methods`)."),
    suite: str = typer.Option("synthetic", "--suite", help="Suite name (`fada-bench list suites`)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the suite's first N samples."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder; a second run on it resumes (default: runs/SUITE)."),
    seed: int = typer.Option(0, "--seed", help="Seeds generation (per sample) and the bootstrap."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metric keys, or 'none' "
                                          "(default: every metric whose backbone is available for the suite)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N (or mps where torch has it)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="fp32, bf16 or fp16: the generators' weights and activations (default: fp32 on cpu, bf16 on a GPU)."),
    compile_: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the denoiser (pays off on a GPU)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared data folder for hdtf / celebvhq (default: data/SUITE)."),
    method_folder: list[str] = typer.Option([], "--method-folder", help="NAME=DIR: videos of a precomputed method (repeatable)."),
    decoder: str = typer.Option("vae", "--decoder", help="FADA generators decode with their VAE (vae) or the small decoder distilled from it (fast); use a separate --out for each."),
):
    """Generate and score: writes run.json, samples.parquet, summary.csv/.json and videos/ under --out."""
    from ..runner import RunConfig, run_benchmark

    names = None if metrics is None else ([] if metrics.strip().lower() == "none" else _split_names(metrics))
    cfg = RunConfig(methods=_split_names(methods), suite=suite, out=out or Path("runs") / suite, limit=limit,
                    seed=seed, metrics=names, device=device, dtype=dtype, compile=compile_, data=data,
                    method_folders=_method_folders(method_folder), decoder=decoder)
    _warn_slow_dtype(cfg.device, cfg.dtype)
    result = _run_with_progress(lambda advance, _: run_benchmark(cfg, advance), cfg.out)
    _report(result)



@app.command("list")
def list_(what: str = typer.Argument(..., help="methods, suites, metrics or adapters"),
          markdown: bool = typer.Option(False, "--markdown", help="metrics: the catalogue as a markdown table "
                                        "(key, backbone, worlds), as docs/metrics.md shows it.")):
    """Print the registered methods, suites, metrics or adapter kinds, one line each."""
    from rich.table import Table

    from ..registry import ADAPTERS, METHODS, METRICS, SUITES, list_metrics, metric_catalogue_markdown

    if what not in ("methods", "suites", "metrics", "adapters"):
        raise InputError(f"list takes methods, suites, metrics or adapters, got {what!r}")
    if markdown:
        if what != "metrics":
            raise InputError(f"--markdown lists metrics only, got {what!r}")
        typer.echo(metric_catalogue_markdown(), nl=False)
        return
    table = Table(box=None, pad_edge=False)
    if what == "methods":
        for col in ("method", "adapter", "sampler", "steps", "cfg", "expected NFE", "also", "description"):
            table.add_column(col, overflow="fold")
        for name, card in METHODS.items():
            s = card.summary_line()
            table.add_row(name, s["adapter"], s["sampler"], s["steps"], s["cfg"], s["expected_nfe"],
                          ", ".join(METHODS.aliases_of(name)), escape(card.description))
    elif what == "adapters":
        for col in ("adapter", "needs", "also reads", "anchor", "defined in"):
            table.add_column(col, overflow="fold")
        for name, cls in ADAPTERS.items():
            table.add_row(name, ", ".join(cls.requires) or "-", ", ".join(cls.accepts) or "-",
                          "yes" if cls.anchor else "", cls.__module__)
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
            state = lambda ok, why: "weights present" if ok else escape(f"not available: {why}")   # noqa: E731
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
    train_missing: bool = typer.Option(True, "--train/--no-train", help="Tables: train the rows' missing checkpoints first (shipped ones are used as shipped; --plan shows which)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prepared data folder for hdtf / celebvhq (default: data/SUITE)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N (or mps where torch has it)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="fp32, bf16 or fp16 (default: fp32 on cpu, bf16 on a GPU)."),
    compile_: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the denoiser (pays off on a GPU)."),
    target_cache: Optional[Path] = typer.Option(None, "--target-cache", help="Tables: share the teacher's PeRFlow/RFlow targets between rows through caches under this folder (built as needed)."),
    plan: bool = typer.Option(False, "--plan", help="Tables: print what would be trained (in order, with steps and starts) and scored, and do nothing."),
    rows: Optional[Path] = typer.Option(None, "--rows", help="Tables: a folder of scored rows (e.g. results/synthetic/rows). The rows it holds for this suite, limit and seed are kept, not trained or scored again; the others are trained, scored and saved into it, and the table is made from it."),
):
    """Figures 3-4 (a CFG sweep, PNG and SVG) or every row of a paper table (training missing checkpoints, with the shipped teacher and students where nothing they came from is trained here)."""
    from .. import sweep as sw

    def floats(option: str, text: Optional[str], default):
        try:
            return default if text is None else tuple(float(x) for x in _split_names(text))
        except ValueError:
            raise InputError(f"{option} takes comma-separated numbers, got {text!r}") from None

    cfg = sw.SweepConfig(what=what, method=method, suite=suite, out=out, limit=limit, seed=seed,
                         a_values=floats("--cfg-a", cfg_a, sw.DEFAULT_CFG_A),
                         r_values=floats("--cfg-r", cfg_r, sw.DEFAULT_CFG_R),
                         metrics=None if metrics is None else _split_names(metrics), train=train_missing,
                         data=data, device=device, dtype=dtype, compile=compile_, target_cache=target_cache,
                         rows=rows)
    if plan:
        _print_sweep_plan(cfg)
        return
    _warn_slow_dtype(cfg.device, cfg.dtype)
    if cfg.what != "cfg":
        for note in _table_sweep_state(cfg)[3]:
            console.print(f"[yellow]note[/yellow]: {note}")

    def job(advance, bars):
        task = {}

        def on_train(name):
            task["id"] = bars.add_task(f"train {name}", total=None)

        def step(done, total, loss):
            bars.update(task["id"], completed=done, total=total, description=f"train loss {loss:.4f}")
        return sw.run_sweep(cfg, advance, on_train, step)
    result, paths = _run_with_progress(job, cfg.out)
    if result is not None:
        _report(result)
        if cfg.rows is not None and result.summary is not None:
            console.print(f"saved the new rows into {cfg.rows}")
    elif cfg.rows is not None:
        console.print(f"{cfg.rows} already holds every row of {cfg.what}: nothing trained or scored")
    for p in paths:
        console.print(f"wrote {p}")


def _table_sweep_state(cfg) -> tuple[list[str], list[str], list[dict], list[str]]:
    """A table sweep's (methods to score, rows kept, `training_plan` steps, notes on checkpoints
    and kept rows that would not start like the rows it makes)."""
    from .. import sweep as sw

    scored = sw.scored_rows(cfg.rows, cfg.suite, cfg.limit, cfg.seed)
    methods, recipes = sw.rows_to_make(cfg.table, scored)
    kept = [m for m in sw.table_methods(cfg.table) if m in scored]
    steps = sw.training_plan(recipes, cfg.target_cache) if cfg.train else []
    notes = sw.kept_rows_out_of_step(cfg.table, cfg.rows, kept, recipes, steps) if kept else []
    return methods, kept, steps, notes + sw.trained_from_another_parent(steps)


def _print_sweep_plan(cfg) -> None:
    from rich.table import Table

    from ..paths import checkpoints_dir

    if cfg.what == "cfg":
        raise InputError("--plan is for table sweeps (sweep cfg trains nothing)")
    methods, kept, steps, notes = _table_sweep_state(cfg)
    table = Table(box=None, pad_edge=False, title=f"{cfg.what}: checkpoints under {checkpoints_dir()}")
    for col in ("recipe", "kind", "steps", "starts from", "state"):
        table.add_column(col)
    for st in steps:
        state = {"trained": "[green]trained[/]", "shipped": "[green]shipped[/]"}.get(st["state"]) or \
            ("to train" if not st["resumes_at"] else f"resumes at step {st['resumes_at']}") + \
            (f", teacher targets from {cfg.target_cache}" if st["cache"] else "")
        table.add_row(st["recipe"], st["kind"], str(st["steps"]), ", ".join(st["after"]) or "-", state)
    Console(width=200).print(table)
    todo = [st for st in steps if not st["have"]]
    if kept:
        console.print(f"kept from {cfg.rows} (scored, not trained or scored again): {', '.join(kept)}")
    for note in notes:
        console.print(f"[yellow]note[/yellow]: {note}")
    console.print(f"{len(todo)} of {len(steps)} checkpoints to train ({sum(st['steps'] - (st['resumes_at'] or 0) for st in todo)} steps left); "
                  + (f"then generate and score on {cfg.suite} into {cfg.out}: {', '.join(methods)}" if methods else "nothing to score")
                  + (f", saved into {cfg.rows}" if cfg.rows is not None and methods else ""))
    shipped = [st["recipe"] for st in steps if st["state"] == "shipped"]
    if shipped:
        console.print(f"shipped checkpoints used as they are: {', '.join(shipped)} (train one here with "
                      "`fada-bench train RECIPE` to use yours: what starts from it is then trained too)")


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    per_method: int = typer.Option(3, "--per-method", help="Sample videos shown per method."),
    link_videos: bool = typer.Option(False, "--link-videos", help="Link the mp4 files instead of embedding them."),
):
    """One self-contained HTML page: summary with CIs, figures, sample videos beside the ground truth, run.json."""
    from ..report import build_report

    console.print(f"wrote {build_report(run_dir, per_method, embed_videos=not link_videos)}")


@app.command("speed")
def speed(
    methods: str = typer.Option("teacher,fada_balanced,fada_fast", "--methods", help="Comma-separated FADA method cards."),
    config: str = typer.Option("tiny", "--config", help="Model config: tiny or sd15 (random weights; no file is read)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (cuda:N)."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, bf16 or fp16 (the models' weights and activations)."),
    frames: int = typer.Option(16, "--frames", help="Frames per timed clip (25 fps)."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Frame size in pixels (default: the config's, tiny 64, sd15 512)."),
    repeats: int = typer.Option(3, "--repeats", help="Timed clips per method, after one untimed warm-up clip each; taken round-robin across the methods."),
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

    from ..speed import STAGES, SpeedConfig, run_speed

    cfg = SpeedConfig(methods=_split_names(methods), config=config, device=device, dtype=dtype, frames=frames,
                      repeats=repeats, peak_tflops=peak_tflops, resolution=resolution,
                      fast={"compile": compile_, "sdpa": sdpa, "batch_cfg": batch_cfg, "vae_chunk": vae_chunk,
                            "overlap_decode": overlap_decode, "decoder": decoder})
    _warn_slow_dtype(cfg.device, cfg.dtype)
    with _progress("speed") as p:
        task = p.add_task("speed", total=len(cfg.methods) * (cfg.repeats + 1))
        rows = run_speed(cfg, lambda name, done, total: p.update(task, completed=done, total=total, description=f"speed {name}"))
    csv_rows = [{k: v for k, v in r.items() if k != "clip_s"} for r in rows]     # the clips' seconds: JSON only
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
    run_dirs: list[Path] = typer.Argument(..., help="Run folders (their summary.csv and run.json) or scored-rows folders (results/synthetic/rows)."),
    paper: int = typer.Option(..., "--paper", help="The paper's table: 1, 2, 3 or 4."),
    fmt: str = typer.Option("md", "--format", help="md, csv or latex."),
    ours_only: bool = typer.Option(False, "--ours-only", help="Only our columns, and only the rows we have values for (no paper numbers)."),
):
    """The paper's table with its numbers and ours side by side (ours: mean [95% CI], with backbone)."""
    from ..tables import render

    typer.echo(render(paper, run_dirs, fmt, only_ours=ours_only), nl=False)


@app.command("claims")
def claims(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders or scored-rows folders (results/synthetic/rows) holding the cards of Tables 1-4 (a method in several: the first)."),
    sweep: Optional[Path] = typer.Option(None, "--sweep", help="A `fada-bench sweep cfg` folder (its sweep.csv), for Figures 3-4."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write CLAIMS.md here (text under its '## Notes' heading is kept); default: print."),
    runs_root: Optional[Path] = typer.Option(None, "--training-logs", help="Checkpoints folder whose log.jsonl give each row's steps, training time and device (default: none)."),
    ratio_probe: Optional[Path] = typer.Option(None, "--ratio-probe", help="R per clip (CSV of `fada-bench ratio-probe RECIPE --out FILE`), or a mixed-supervision row or run folder whose training log recorded R: claim 3 is not testable where sync-defect clips do not get a larger R."),
):
    """Each claim of the paper with our numbers, the paper's and a verdict (holds, does not hold, inconclusive, not measured yet, not comparable, not testable in this world)."""
    import shlex
    import sys

    from ..claims import check_claims, kept_notes, merged_summary, read_sweep, render
    from fada.data.io import write_text_atomic

    from ..row_compare import merged_replicates, merged_samples
    from ..rows import lineage, training_records

    training = training_records(run_dirs)
    ratios = None
    if ratio_probe is not None:
        from fada.train.ratio_log import read_ratios

        ratios = read_ratios(ratio_probe)
    verdicts = check_claims(merged_summary(run_dirs), read_sweep(sweep) if sweep else None, training, ratios,
                            lineage(run_dirs), merged_samples(run_dirs), merged_replicates(run_dirs))
    command = "fada-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["claims"] else "fada-bench claims"
    text = render(verdicts, command, runs_root, kept_notes(out) if out else "", training)
    if out is None:
        typer.echo(text)
        return
    write_text_atomic(out, text)
    for v in verdicts:
        console.print(f"claim {v.claim}: {v.verdict}")
    console.print(f"wrote {out}")


rows_app = typer.Typer(help="Scored rows kept in the repository (results/synthetic/rows).", no_args_is_help=True)
app.add_typer(rows_app, name="rows")


@rows_app.command("save")
def rows_save(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    out: Path = typer.Option(Path("results/synthetic/rows"), "--out", help="Rows folder: one METHOD/ folder per row."),
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma-separated methods (default: every method of the run)."),
    training_logs: Optional[Path] = typer.Option(None, "--training-logs", help="Checkpoints folder whose RECIPE/log.jsonl give each row's training steps, hours and device."),
):
    """Keep a run's scored rows (summary, per-sample values, identity) where tables and claims read them."""
    from ..rows import save_rows

    for row in save_rows(run_dir, out, _split_names(methods) if methods else None, training_logs=training_logs):
        console.print(f"wrote {row}")


@rows_app.command("list")
def rows_list(folder: Path = typer.Argument(Path("results/synthetic/rows"), help="A rows folder.")):
    """Each row with its samples, checkpoint, when and on what it was scored, and its training; exit 1 if they cannot be combined."""
    from rich.markup import escape
    from rich.table import Table

    from ..rows import check_combinable, read_row, row_overview, row_paths

    rows = [read_row(p) for p in row_paths(folder)]
    table = Table(box=None, pad_edge=False)
    for col in ("method", "samples", "failed", "checkpoint", "scored (UTC)", "scored on", "trained"):
        table.add_column(col, overflow="fold")
    for row in rows:
        o = row_overview(row)
        table.add_row(*(escape(str(o[k])) for k in ("method", "samples", "failed", "checkpoint", "scored", "scored_on", "trained")))
    Console(width=200).print(table)
    check_combinable([(str(r.path), r.identity) for r in rows])     # names both rows and the field
    console.print(f"{len(rows)} rows, combinable (same suite, limit, seed, backbones and decoder)")


@rows_app.command("compare")
def rows_compare(
    a: str = typer.Argument(..., help="Row A: a method name in --rows, a row folder, or RUN_DIR/METHOD of a finished run."),
    b: str = typer.Argument(..., help="Row B: a method name in --rows, a row folder, or RUN_DIR/METHOD of a finished run."),
    rows: Path = typer.Option(Path("results/synthetic/rows"), "--rows", help="The rows folder names are looked up in."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the comparison as CSV."),
):
    """Two rows metric by metric: means, relative difference, and the paired difference A - B: a per-sample metric's over the clips both scored (95% t interval), a per-set metric's over the bootstrap replicates both rows kept of the same clips (95% percentile interval)."""
    import tempfile

    from rich.table import Table

    from fada.data.io import write_text_atomic

    from ..row_compare import compare_rows, find_row, largest_difference
    from ..summary import COST_BACKBONES

    with tempfile.TemporaryDirectory() as scratch:       # where a run folder's method becomes a row
        ra, rb = find_row(a, rows, Path(scratch) / "a"), find_row(b, rows, Path(scratch) / "b")
        t = compare_rows(ra, rb)

    def num(x) -> str:
        return "-" if x != x else f"{x:.4g}"

    table = Table(box=None, pad_edge=False)
    for col in ("metric", f"A {ra.method}", f"B {rb.method}", "A-B, % of B", "paired A-B [95% CI]", "n", "paired"):
        table.add_column(escape(col))
    for r in t.itertuples():
        paired = "-" if r.n_paired < 2 else f"{num(r.diff_mean)} [{num(r.diff_ci95_low)}, {num(r.diff_ci95_high)}]"
        table.add_row(escape(f"{r.metric}[{r.backbone}]"),
                      f"{num(r.a_mean)} [{num(r.a_ci95_low)}, {num(r.a_ci95_high)}]",
                      f"{num(r.b_mean)} [{num(r.b_ci95_low)}, {num(r.b_ci95_high)}]",
                      "-" if r.rel_diff != r.rel_diff else f"{100 * r.rel_diff:+.2f}%",
                      paired, str(r.n_paired or "-"), r.verdict)
    Console(width=200).print(table)
    worst = largest_difference(t)
    if worst:
        console.print(f"largest difference of the means over the quality metrics: {100 * worst[1]:.2f}% of B's "
                      f"({escape(worst[0])})", soft_wrap=True)
    unpaired = [f"{r.metric}[{r.backbone}]" for r in t.itertuples() if not r.n_paired and r.backbone not in COST_BACKBONES]
    if unpaired:
        console.print(f"no paired difference for {escape(', '.join(unpaired))}: a per-set metric is paired only where both "
                      "rows kept their bootstrap replicates (bootstrap.csv) of the same clips", soft_wrap=True)
    console.print("wall-clock and memory get no verdict: rows scored apart ran under different loads", soft_wrap=True)
    if out is not None:
        write_text_atomic(out, t.to_csv(index=False))
        console.print(f"wrote {out}")


@app.command("baseline")
def baseline(run_dir: Path = typer.Argument(..., help="A finished run folder."),
             out: Path = typer.Option(Path("results/baselines/synthetic.json"), "--out", help="Baseline file to write.")):
    """Write a drift baseline from a run: each metric's mean and its tolerance (from its CI)."""
    from ..drift import make_baseline

    b = make_baseline(run_dir, out)
    console.print(f"wrote {len(b['metrics'])} metrics of {run_dir} to {out} ({b['rule']})")


@app.command("check")
def check(run_dir: Path = typer.Argument(..., help="A finished run folder (with --rerun: where to make it)."),
          baseline: Path = typer.Option(..., "--baseline", help="Baseline file (`fada-bench baseline`)."),
          rerun: bool = typer.Option(False, "--rerun", help="First repeat the run the baseline was made from "
                                     "(its methods, suite, sample count, seed and metrics) into RUN_DIR; resumes.")):
    """Compare a run with a baseline; exit 1 and name each metric that drifted past its tolerance.

    With --rerun the repeat may run in several processes (`torchrun --nproc_per_node 2 -m
    fada_bench.cli check ...`), each taking its share of the samples; process 0 checks."""
    from ..drift import check_run, rerun_config

    if rerun:
        from ..runner import run_benchmark

        cfg = rerun_config(baseline, run_dir)
        result = _run_with_progress(lambda advance, _: run_benchmark(cfg, advance), cfg.out)
        if result.summary is None:     # a process other than the first (torchrun): process 0 checks
            return
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

