"""Training throughput of the trainer's objectives: steps/s and samples/s at a batch size.

It answers one question before a sweep is planned: can the ablation rows of the tables (each a
teacher or a PeRFlow student of the tiny config) train on one GPU in hours, and at what batch?
The objective is the trainer's own (`make_objective`, the same loss, backward, clipping and AdamW
step as `fada.train.trainer`); the weights are random (speed does not depend on their values) and
the batch is random latents and audio of the recipe's shapes, so no data folder is read. The
PeRFlow student needs a teacher folder: a random one is written to a temporary folder and removed.

    python -m fada.train.throughput --device cuda --batches 4,32,128 --out OUT/train-throughput.csv
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace

import torch

from ..data.io import FPS, SAMPLE_RATE, write_csv_atomic
from ..profiling import clock, device_name, peak_memory_gb, processor_name, reset_peak_memory
from .recipe import load_recipe

# What is timed: the teacher (Eq. 1) and a PeRFlow student (Eqs. 2-5), the two kinds every
# ablation row of Tables 2-4 trains.
RECIPES = {"teacher": "teacher_tiny", "perflow": "perflow_tiny"}


def random_batch(models, batch_size: int, n_frames: int, gen: torch.Generator, device) -> dict:
    """A latent-space training batch of the dataset's shapes (fada.data.dataset.ClipDataset with
    latents): target, reference and motion latents, and the audio under the window with context."""
    vae = models.vae.config
    down = 2 ** (len(vae.block_out_channels) - 1)
    lat = (vae.latent_channels, models.resolution // down, models.resolution // down)
    w = models.denoiser.config.audio_window
    samples = int(round((n_frames + 2 * w) * SAMPLE_RATE / FPS))
    b = {"target_latents": torch.randn((batch_size, n_frames, *lat), generator=gen),
         "reference_latents": torch.randn((batch_size, *lat), generator=gen),
         "motion_latents": torch.randn((batch_size, models.motion_frames, *lat), generator=gen),
         "audio": torch.randn((batch_size, samples), generator=gen) * 0.1}
    return {k: v.to(device) for k, v in b.items()}


def measure_training(kind: str, batch_size: int, steps: int = 5, warmup: int = 2, compile: bool = False,
                     device: str = "cpu", seed: int = 0) -> dict:
    """Median seconds of `steps` optimizer steps after `warmup` untimed ones (compilation lands there)."""
    from ..models.bundle import build_models
    from .objectives import make_objective

    recipe = load_recipe(RECIPES[kind])
    with tempfile.TemporaryDirectory(prefix="fada-throughput-") as tmp:
        if kind == "teacher":
            recipe = replace(recipe, parent=None, vae=None)
        else:
            build_models(recipe.config, seed=seed).save(tmp)
            recipe = replace(recipe, parent=None, objective=replace(recipe.objective, teacher=tmp))
        obj = make_objective(recipe)
    obj.to(device)
    if compile:
        for net in obj.networks():
            net.compile()
    params = [p for m in obj.trainable() for p in m.parameters() if p.requires_grad]
    for m in obj.trainable():
        m.train()
    opt = torch.optim.AdamW(params, lr=recipe.optim.lr)
    gen = torch.Generator().manual_seed(seed)
    batch = random_batch(obj.models, batch_size, recipe.data.n_frames, gen, device)
    reset_peak_memory(device)
    times = []
    for i in range(warmup + steps):
        gens = [torch.Generator().manual_seed(seed * 100003 + i * batch_size + j) for j in range(batch_size)]
        t0 = clock(device)
        per_sample, _ = obj.loss(batch, gens)
        (per_sample.sum() / batch_size).backward()
        torch.nn.utils.clip_grad_norm_(params, recipe.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(clock(device) - t0)
    sec = sorted(times)[len(times) // 2]
    return {"kind": kind, "recipe": recipe.name, "config": recipe.config, "device": device_name(device),
            "processor": processor_name(), "threads": torch.get_num_threads(), "batch_size": batch_size,
            "frames": recipe.data.n_frames, "compiled": compile, "steps": steps, "sec_per_step": sec,
            "steps_per_s": 1.0 / sec, "samples_per_s": batch_size / sec, "peak_mem_gb": peak_memory_gb(device)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--kinds", default="teacher,perflow", help=f"comma-separated: {', '.join(RECIPES)}")
    ap.add_argument("--batches", default="4,32,128")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compile", default="eager,compiled", help="eager, compiled, or both (comma-separated)")
    ap.add_argument("--out", required=True, help="CSV to write; rewritten after each measurement")
    a = ap.parse_args(argv)
    rows = []
    for mode in a.compile.split(","):
        for kind in a.kinds.split(","):
            for b in (int(x) for x in a.batches.split(",")):
                try:
                    row = measure_training(kind, b, a.steps, a.warmup, mode == "compiled", a.device)
                except (RuntimeError, torch.OutOfMemoryError) as e:    # e.g. out of memory at 128: keep the rest
                    row = {"kind": kind, "batch_size": b, "compiled": mode == "compiled", "error": str(e)[:300]}
                rows.append(row)
                write_csv_atomic(a.out, rows)
                print(row, flush=True)


if __name__ == "__main__":
    main()
