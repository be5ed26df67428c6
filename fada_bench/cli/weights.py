"""`fada-bench weights ...`: list, verify, pack and fetch weight files; train the synthetic backbones."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .common import InputError, console, escape, weights_app


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
    from ..weight_files import KINDS, all_status

    if kind is not None and kind not in KINDS:
        raise InputError(f"--kind takes {', '.join(KINDS)}, got {kind!r}")
    _weights_table(all_status((kind,) if kind else KINDS))


@weights_app.command("verify")
def weights_verify(names: Optional[list[str]] = typer.Argument(None, help="Files to check (default: every present file).")):
    """Check sha256 of the files; exit 1 naming each file that is corrupt (or, when named, missing)."""
    from ..weight_files import all_status

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
    from ..paths import checkpoints_dir
    from ..weight_files.shipped import BLOBS, pack, shipped_bytes

    names = list(checkpoints or SHIPPED_CHECKPOINTS)
    man = pack({c: checkpoints_dir() / c for c in names})
    mb = shipped_bytes() / 2**20
    for c, files in man.items():
        console.print(f"{c}: {len(files)} files")
    console.print(f"{BLOBS}: {mb:.1f} MB in all")
    if mb > SHIPPED_LIMIT_MB:
        console.print(f"[yellow]warning[/yellow]: over the {SHIPPED_LIMIT_MB} MB the package should ship")


@weights_app.command("fetch")
def weights_fetch(
    name: str = typer.Argument(..., help="A standard backbone file (see `fada-bench weights list --kind standard`)."),
    url: Optional[str] = typer.Option(None, "--url", help="Download from here instead of the registered link."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder or file (default: first of $FADA_BENCH_WEIGHTS, ~/.cache/fada-bench/weights)."),
):
    """Download a weight file, resuming a partial download, and check its published checksum."""
    from ..weight_files.standard import fetch

    path = fetch(name, url, dest)
    console.print(f"{name}: {path}")



@weights_app.command("train-synthetic")
def weights_train_synthetic(
    only: Optional[list[str]] = typer.Option(None, "--only", help="Train only this backbone (repeatable): "
                                             "inverse_renderer, video_features, syncnet, iqa."),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(2, "--threads", help="Torch threads (the recipes are sized for 2)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Checkpoints and rendered data; a rerun resumes "
                                        "from them (default: ~/.cache/fada-bench/backbone-training)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the weights and registry.json go "
                                       "(default: the package's fada_bench/weights/synthetic/)."),
    scale: float = typer.Option(1.0, "--scale", help="Shrink identities and steps (smoke tests only)."),
):
    """Train the synthetic world's metric backbones, measure them on held-out identities and ship them
    (fp16 safetensors, sha256 and accuracies in registry.json). Each is sized for under 15 minutes on
    2 CPU threads."""
    from ..train_synthetic_backbones import DEFAULT_WORK, train

    train(only, seed=seed, threads=threads, work=work or DEFAULT_WORK, out=out, scale=scale)
