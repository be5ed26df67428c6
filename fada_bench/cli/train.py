"""`fada-bench train RECIPE`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional

import typer

from .common import _progress, app, console


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="A recipe shipped in fada/recipes/ (e.g. teacher_tiny) or a YAML path."),
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

    from ..shipped import trained_or_shipped

    r = load_recipe(recipe)           # every field checked here, before any checkpoint loads
    if r.vae:        # `vae: runs/teacher_tiny/model` takes the shipped teacher where none was trained here
        r = dataclasses.replace(r, vae=trained_or_shipped(r.vae))
    if steps is not None:
        r = dataclasses.replace(r, steps=steps)
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

