"""`fada-bench train RECIPE`, `fada-bench ratio-probe RECIPE`, `fada-bench train-cache build RECIPE` and
`fada-bench train-cache list` and `fada-bench train-cache compare RUN_A RUN_B`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional

import typer

from .common import TrainingInterrupted, _progress, app, console, escape


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="A recipe shipped in fada/recipes/ (e.g. teacher_tiny) or a YAML path."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/RECIPE)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the run folder's last checkpoint."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the recipe's total steps."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", help="Stop (with a checkpoint) at this step, to train in chunks."),
    export: Optional[Path] = typer.Option(None, "--export", help="Do not train: write the last checkpoint's EMA weights as a model folder here (to score a run mid-training)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the networks: for a GPU, where a tiny model's many small operations each cost a launch (no faster on a CPU)."),
    target_cache: Optional[Path] = typer.Option(None, "--target-cache", help="Root of teacher-target caches (`fada-bench train-cache build`): PeRFlow/RFlow steps it holds read the teacher's end points from it; the rest are computed live."),
):
    """Train a model from a recipe (one readable accelerate loop; resumable after any interruption)."""
    from fada.train.recipe import load_recipe
    from fada.train.trainer import export_checkpoint, train

    r = with_shipped_fallbacks(load_recipe(recipe))    # every field checked, before any checkpoint loads
    if steps is not None:
        r = dataclasses.replace(r, steps=steps)
    out = out or Path("runs") / r.name
    if export is not None:
        step = export_checkpoint(r, out, export)
        console.print(f"{r.name}: step {step} of {r.steps} (EMA weights) written to {export}")
        return
    if int(os.environ.get("RANK", "0")) != 0:       # under torchrun / accelerate: one bar, from process 0
        train(r, out, resume=resume, stop_at=stop_at, compile=compile, target_cache=target_cache)
        return
    try:
        with _progress("train") as p:
            task = p.add_task(f"{r.name} ({r.kind})", total=r.steps)
            final = train(r, out, resume=resume, stop_at=stop_at, compile=compile, target_cache=target_cache,
                          progress=lambda done, total, loss: p.update(task, completed=done, description=f"{r.name} loss {loss:.4f}"),
                          encode_progress=_encoding_bar(p))
    except TrainingInterrupted as e:
        console.print(escape(f"{r.name}: {e}"), highlight=False)
        raise typer.Exit(e.exit_code) from None
    console.print(f"{r.name}: log in {out / 'log.jsonl'}" + (f", model in {final}" if final.exists() else ", checkpoint saved"))


def _encoding_bar(p):
    """A progress callback that adds its bar on first use: only a new training set is encoded."""
    task = []

    def update(done, total):
        if not task:
            task.append(p.add_task("encoding the training clips to latents (once per training set)", total=total))
        p.update(task[0], completed=done, total=total)
    return update


def with_shipped_fallbacks(r):
    """The recipe with its frozen checkpoints (`vae:` and the objective's `teacher:`, e.g.
    `runs/teacher_tiny/model`) taken from the shipped weights where none was trained here, so a
    fresh checkout distils from the shipped teacher instead of stopping for hours of teacher
    training. `parent:` (what the trained networks start from) is left as written."""
    from ..weight_files.shipped import trained_or_shipped

    if r.vae:
        r = dataclasses.replace(r, vae=trained_or_shipped(r.vae))
    teacher = getattr(r.objective, "teacher", None)
    if teacher:
        r = dataclasses.replace(r, objective=dataclasses.replace(r.objective, teacher=trained_or_shipped(teacher)))
    return r


@app.command("ratio-probe")
def ratio_probe_cmd(
    recipe: str = typer.Argument(..., help="A mixed-supervision recipe (e.g. fada_balanced_tiny) or a YAML path."),
    out: Path = typer.Option(..., "--out", help="CSV of R per clip (R, tier, defects), for `fada-bench claims --ratio-probe`."),
    clips: int = typer.Option(300, "--clips", min=1, help="Training clips drawn (one window each)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw of clips, windows and noise."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Teacher model folder (default: the recipe's, trained here or shipped)."),
    parent: Optional[Path] = typer.Option(None, "--parent", help="The student's starting checkpoint (default: the teacher; a trained student measures R after training)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training data folder (default: the recipe's)."),
):
    """R = L_gt / L_teacher (Sec. 3.2) per training clip, without training, with its tier and recorded defects: claim 3's premise, that clips with poor sync get a larger R."""
    from rich.markup import escape

    from fada.train.ratio_log import probe_ratios, quantile_table, write_ratio_csv
    from fada.train.recipe import load_recipe

    r = load_recipe(recipe)
    if teacher is not None and hasattr(r.objective, "teacher"):    # one without a teacher fails in probe_ratios
        r = dataclasses.replace(r, objective=dataclasses.replace(r.objective, teacher=str(teacher)))
    if data is not None:
        r = dataclasses.replace(r, data=dataclasses.replace(r.data, folder=str(data)))
    r = with_shipped_fallbacks(dataclasses.replace(r, parent=str(parent) if parent else None))
    with _progress("clips") as p:
        task = p.add_task(f"{r.name} R per clip", total=clips)
        samples = probe_ratios(r, clips, seed, progress=lambda done, total: p.update(task, completed=done, total=total))
    write_ratio_csv(samples, out)
    console.print(escape(quantile_table(samples).to_string(index=False)))
    console.print(f"wrote {escape(str(out))} ({len(samples)} clips); use it with `fada-bench claims --ratio-probe`")


cache_app = typer.Typer(help="Teacher-target caches shared by the rows that distil from one teacher.", no_args_is_help=True)
app.add_typer(cache_app, name="train-cache")


@cache_app.command("build")
def train_cache_build(
    recipe: str = typer.Argument(..., help="A perflow or rflow recipe (name or YAML path)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Root of the caches (default: CHECKPOINTS/teacher-targets)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Build only the first N steps' entries (resumes later)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes computing steps at once, each on its share of the threads (OMP_NUM_THREADS); on a small CPU, one a core builds faster than one process on all."),
):
    """Compute a recipe's teacher targets (standpoints and Phi's end points) once, resumably, for every row that shares them."""
    from fada.train.recipe import load_recipe
    from fada.train.target_cache import build_target_cache

    from ..paths import checkpoints_dir

    r = with_shipped_fallbacks(load_recipe(recipe))
    root = cache or checkpoints_dir() / "teacher-targets"
    try:
        with _progress("targets") as p:
            task = p.add_task(f"{r.name} teacher targets", total=steps or r.steps)
            folder = build_target_cache(r, root, steps, progress=lambda done, total: p.update(task, completed=done, total=total),
                                        encode_progress=_encoding_bar(p), workers=workers)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/yellow]: the targets written so far are kept under {escape(str(root))}; "
                      "run the same command again to resume")
        raise typer.Exit(130) from None
    console.print(f"{r.name}: teacher targets in {folder}; train with `fada-bench train {r.name} --target-cache {root}`")


@cache_app.command("list")
def train_cache_list(
    cache: Optional[Path] = typer.Option(None, "--cache", help="Root of the caches (default: CHECKPOINTS/teacher-targets)."),
):
    """Every cache under the root: what it holds (tiers, windows K, phi_steps, guidance, teacher), steps built, size on disk."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from fada.train.target_cache import cache_summaries, size_text

    from ..paths import checkpoints_dir

    root = cache or checkpoints_dir() / "teacher-targets"
    rows = cache_summaries(root)
    if not rows:
        console.print(f"no teacher-target caches in {escape(str(root))}; build one with "
                      f"`fada-bench train-cache build RECIPE --cache {escape(str(root))}`")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("key", "tiers", "K", "phi_steps", "guidance", "teacher", "built (steps)", "on disk", "updated (UTC)"):
        table.add_column(col, overflow="fold")
    problems = [r for r in rows if "problem" in r]
    for r in rows:
        if "problem" in r:
            continue
        done = "[green]complete[/]" if r["steps_done"] >= r["steps"] else \
            f"{r['steps_done']} of {r['steps']} ({100 * r['steps_done'] / r['steps']:.0f}%)"
        table.add_row(escape(r["key"]), r["tiers"], str(r["windows"]), str(r["phi_steps"]), escape(r["guidance"]),
                      r["teacher"], done, f"{size_text(r['disk_bytes'])} of {size_text(r['full_bytes'])}",
                      r["updated"].strftime("%Y-%m-%d %H:%M"))
    if len(problems) < len(rows):
        Console(width=200).print(table)
    for r in problems:
        console.print(f"[red]{escape(r['folder'])}: {escape(r['problem'])}[/]", soft_wrap=True)   # paths unbroken


@cache_app.command("compare")
def train_cache_compare(
    run_a: str = typer.Argument(..., help="A run folder (runs/RECIPE), its log.jsonl, a recipe name (CHECKPOINTS/RECIPE), or a scored row folder saved with --training-logs."),
    run_b: str = typer.Argument(..., help="The run it is compared with, the same way."),
    key: str = typer.Option("L_distill", "--key", help="The logged value to compare (L_distill, loss, L_gt, ...)."),
    first: int = typer.Option(1, "--from", help="First step compared."),
    last: Optional[int] = typer.Option(None, "--to", help="Last step compared (default: the last both logged)."),
):
    """Two runs trained from one teacher-target cache, paired step by step on a logged loss: the median ratio A / B with its 95% interval."""
    from rich.markup import escape

    from fada.train.log_compare import compare_logs

    from ..paths import checkpoints_dir

    def where(name: str) -> Path:
        path = Path(name)
        return path if path.exists() or os.sep in name else checkpoints_dir() / name

    def label(path: Path) -> str:         # the run's name; a log file by its whole path
        return str(path) if path.is_file() else path.name

    a, b = where(run_a), where(run_b)
    result = compare_logs(a, b, key, first, last)
    console.print(escape(result.text(label(a), label(b))), soft_wrap=True)
