"""`fada-bench data ...`: make, prepare, check and split data folders."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .common import _progress, console, data_app


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
    out: Optional[Path] = typer.Option(None, "--out", help="Split file to write (default: DATASET.json in $FADA_BENCH_SPLITS, "
                                       "else in data/splits; suites read it there before the package's own)."),
):
    """Choose a seeded test split: n usable clip ids, written as a split file."""
    from fada.data.splits import make_test_split

    from ..paths import user_splits_dir

    split = make_test_split(dataset, data or Path("data") / dataset, n, seed, out or user_splits_dir() / f"{dataset}.json")
    if split.n_available < split.n_requested:
        console.print(f"[yellow]only {split.n_available} usable clips, fewer than --n {split.n_requested}: "
                      f"the split takes all of them[/yellow]")
    console.print(f"wrote {len(split.ids)} {dataset} test ids (seed {seed}) to {split.path}")

