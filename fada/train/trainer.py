"""The training loop: one readable loop for every recipe kind.

Launch:
    fada-bench train teacher_tiny [--out runs/teacher_tiny] [--steps N]           # one process
    accelerate launch --multi_gpu --num_processes 2 -m fada_bench.cli train teacher_tiny  # several
    torchrun --nproc_per_node 2 -m fada_bench.cli train teacher_tiny                  # the same
(`--multi_gpu` on a CPU-only machine too: accelerate's `--cpu` launches one process.)

Exact resume: everything random in a step is drawn from generators seeded by (recipe seed, step,
global sample index), and the data order by (seed, epoch). So the state to resume is only the
weights, the optimizer, the EMA and the step, and a run killed at step k and resumed equals an
uninterrupted one. For the same reason N processes sharing a global batch reproduce one process
(the gradient is the all-reduced sum of per-sample losses over the global batch size).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from ..data.dataset import ClipDataset
from ..data.io import write_text_atomic
from .interrupt import TrainingInterrupted, stop_after_step
from .latents import encode_clip_latents, latent_folder
from .log import append_record, start_fields
from .objectives import make_objective
from .recipe import Recipe

CHECKPOINT = "checkpoint"
FINAL = "model"


def sample_generator(seed: int, step: int, index: int, stream: int = 0) -> torch.Generator:
    ss = np.random.SeedSequence([seed, step, index, stream])
    return torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint32)[0]))


def batch_indices(seed: int, step: int, batch: int, n: int) -> list[tuple[int, int]]:
    """(dataset index, epoch) of each sample of the global batch at `step`."""
    out = []
    for p in range(step * batch, (step + 1) * batch):
        epoch, pos = divmod(p, n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        out.append((int(perm[pos]), epoch))
    return out


def lr_at(step: int, recipe: Recipe) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    o = recipe.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    frac = (step - o.warmup_steps) / max(1, recipe.steps - o.warmup_steps)
    return o.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _named_trainable(modules) -> dict[str, torch.nn.Parameter]:
    return {f"{i}.{n}": p for i, m in enumerate(modules) for n, p in m.named_parameters() if p.requires_grad}


def start_hashes(recipe: Recipe) -> dict:
    """sha256 of the checkpoints a run starts from (parent, teacher), so rows compared as equals
    (Table 4's variants) can be shown to have started from the same bytes, and of the training
    set's manifest content (as a teacher-target cache's key hashes it), so rows can be shown to
    have trained on the same clips, tiers and filter measurements (a training set made again on
    another machine is checked by it, cache or not)."""
    from ..data.manifest import manifest_sha256
    from ..hashing import folder_sha256

    out = {}
    for key, folder in (("parent_sha256", recipe.parent), ("teacher_sha256", getattr(recipe.objective, "teacher", None))):
        if folder and Path(folder).is_dir():
            out[key] = folder_sha256(folder)
    training_set = manifest_sha256(recipe.data.folder)
    if training_set:
        out["training_set_sha256"] = training_set
    return out


def prepare_data(recipe: Recipe, obj, main: bool = True, barrier=lambda: None, encode_progress=None):
    """The recipe's training set and, for a latent-space objective, its latents folder (encoded
    once by the main process; `encode_progress(done, total)` follows it): (ClipDataset, latents
    folder or None)."""
    d = recipe.data
    ds = ClipDataset(d.folder, split="train", tiers=tuple(d.tiers), n_frames=d.n_frames, size=d.size,
                     audio_context=obj.models.denoiser.config.audio_window, windows_per_clip=d.windows_per_clip,
                     # Every clip stays in memory once read: a training set is a few thousand clips of
                     # well under 1 MB each, and reading one again (latents, and the audio out of its
                     # mp4: 66 ms a step of 4 here) costs more than a tiny model's step on a GPU.
                     seed=recipe.seed, cache_clips=None)
    lat_dir = None
    if obj.latent_space:
        lat_dir = latent_folder(d.folder, obj.models.vae, d.size)
        if main:
            encode_clip_latents(d.folder, list(ds.rows["id"]), obj.models.vae, d.size, lat_dir,
                                progress=encode_progress)
        barrier()
        ds.latents = lat_dir
    return ds, lat_dir


def train(recipe: Recipe, out: str | os.PathLike, resume: bool = True, stop_at: int | None = None,
          progress=None, compile: bool = False, target_cache: str | os.PathLike | None = None,
          encode_progress=None) -> Path:
    """Run `recipe` into `out`; returns the final model folder. `stop_at` ends early at that step
    (with a checkpoint), as an interruption would, for tests and chunked runs. `compile` runs the
    networks through `torch.compile`, for a GPU, where a tiny model's thousands of small operations
    per step each cost a launch; the losses agree with eager ones to float rounding.
    `target_cache`: a root of teacher-target caches (`target_cache.py`); the steps it holds read
    the teacher's standpoints and end points from it, the others compute them live.
    `encode_progress(done, total)`: the first run on a training set encodes its clips to latents
    (minutes for the tiny recipes' 2000 clips) before the first step."""
    from accelerate import Accelerator

    from .run_lock import exclusive

    acc = Accelerator(mixed_precision=recipe.mixed_precision, cpu=not torch.cuda.is_available())
    out = Path(out)
    # One process per rank: a second `fada-bench train` of this run stops before reading the
    # checkpoint the first one is writing.
    with exclusive(out, "trained", f"train-rank{acc.process_index}"):
        return _train(acc, recipe, out, resume, stop_at, progress, compile, target_cache, encode_progress)


def _train(acc, recipe: Recipe, out: Path, resume: bool, stop_at: int | None, progress, compile: bool,
           target_cache, encode_progress=None) -> Path:
    rank, world = acc.process_index, acc.num_processes
    torch.manual_seed(recipe.seed)
    obj = make_objective(recipe)
    obj.to(acc.device)
    if compile:
        for net in obj.networks():
            net.compile()
    modules = obj.trainable()
    for m in modules:
        m.train()
    params = _named_trainable(modules)
    o = recipe.optim
    opt = torch.optim.AdamW(params.values(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    ema = {k: p.detach().clone() for k, p in params.items()}
    start = 0
    ckpt = out / CHECKPOINT
    if resume and rank == 0:
        _finish_interrupted_save(ckpt)
    acc.wait_for_everyone()
    if resume and (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", map_location=acc.device, weights_only=True)
        for k, p in params.items():
            p.data.copy_(state["params"][k])
        ema = {k: v.clone() for k, v in state["ema"].items()}
        opt.load_state_dict(state["optimizer"])
        obj.load_extra_state(state.get("objective", {}))
        start = int(state["step"])

    ds, lat_dir = prepare_data(recipe, obj, rank == 0, acc.wait_for_everyone, encode_progress)
    start_rec = {}
    if target_cache is not None:
        from .target_cache import open_cache

        if not getattr(obj, "uses_target_cache", False):
            from ..errors import InputError

            raise InputError(f"{recipe.source}: recipe kind {recipe.kind!r} has no cacheable teacher targets "
                             "(only perflow and rflow recipes do); train it without --target-cache")
        cache = open_cache(target_cache, recipe, obj, len(ds), lat_dir)
        obj.attach_cache(cache)
        start_rec["target_cache"] = cache.folder.name     # its key: rows paired step by step must share it
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "recipe.json", json.dumps(recipe.to_dict(), indent=1) + "\n")
    end = recipe.steps if stop_at is None else min(stop_at, recipe.steps)
    B, accum = o.batch_size, o.grad_accum
    if B % (world * accum):
        raise ValueError(f"batch_size {B} must divide into {world} processes x {accum} accumulation steps")

    # Ctrl-C or SIGTERM ends the run after the step it interrupts, with a checkpoint (interrupt.py).
    with stop_after_step(enabled=world == 1) as stop:
        for step in range(start, end):
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr_at(step, recipe)
            picks = batch_indices(recipe.seed, step, B, len(ds))
            mine = list(range(rank, B, world))                   # this process's share of the global batch
            loss_sum, logs = torch.zeros((), device=acc.device), {}
            for chunk in np.array_split(np.array(mine), accum):
                items = []
                for j in chunk:
                    idx, epoch = picks[j]
                    item = ds.get(idx, salt=epoch)
                    items.append(item)
                batch = default_collate(items)
                batch = {k: (v.to(acc.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
                batch["generators"] = [sample_generator(recipe.seed, step, int(j)) for j in chunk]
                batch["sample_index"] = [step * B + int(j) for j in chunk]        # a teacher-target cache's entry
                batch["pick"] = [picks[j] for j in chunk]
                with acc.autocast():
                    per_sample, logs = obj.loss(batch, batch["generators"])
                (per_sample.sum() / B).backward()
                loss_sum += per_sample.detach().sum()
            if world > 1:
                for p in params.values():
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                torch.distributed.all_reduce(loss_sum)
            gnorm = torch.nn.utils.clip_grad_norm_(list(params.values()), o.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            obj.after_step()
            with torch.no_grad():      # one multi-tensor op: a launch per tensor would bound a GPU step
                torch._foreach_lerp_([ema[k] for k in params], [p.detach() for p in params.values()], 1.0 - recipe.ema_decay)
            if rank == 0 and ((step + 1) % recipe.log_every == 0 or step == start):
                rec = {"step": step + 1, "loss": float(loss_sum) / B, "lr": opt.param_groups[0]["lr"],
                       "grad_norm": float(gnorm), "sec": time.perf_counter() - t0, **logs}
                if step == start:     # what the seconds were measured on, and what the run started from
                    rec.update(start_fields(acc.device, compile), **start_hashes(recipe), **start_rec)
                append_record(out, rec)
            if progress:
                progress(step + 1, recipe.steps, float(loss_sum) / B)
            if (step + 1) % recipe.checkpoint_every == 0 or step + 1 == end:
                if rank == 0:
                    _save_checkpoint(ckpt, params, ema, opt, step + 1, obj.extra_state())
                acc.wait_for_everyone()
            elif stop.signum is not None:     # one process (see stop_after_step): save where it stops
                _save_checkpoint(ckpt, params, ema, opt, step + 1, obj.extra_state())
            if stop.signum is not None and step + 1 < end:
                raise TrainingInterrupted(step + 1, stop.signum, ckpt)

    final = out / FINAL
    if end == recipe.steps and rank == 0:
        obj.finalize()
        with torch.no_grad():
            for k, p in params.items():
                p.data.copy_(ema[k])
        tmp = out / f".{FINAL}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        obj.models.save(tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    acc.wait_for_everyone()
    return final


def checkpoint_step(out: str | os.PathLike) -> int | None:
    """The step at which a run folder's last checkpoint was saved (where `train` resumes), or None."""
    state_path = _last_state(Path(out) / CHECKPOINT)
    if state_path is None:
        return None
    # Memory-mapped, so only the step is read, not the weights and optimizer moments.
    return int(torch.load(state_path, map_location="cpu", weights_only=True, mmap=True)["step"])


def export_checkpoint(recipe: Recipe, out: str | os.PathLike, dest: str | os.PathLike) -> int:
    """Write the EMA weights of `out`'s last checkpoint as a model folder at `dest`, as the final
    save would, without training: to score a run while it trains. Returns the checkpoint's step."""
    from ..errors import InputError

    state_path = _last_state(Path(out) / CHECKPOINT)
    if state_path is None:
        raise InputError(f"no checkpoint to export in {Path(out) / CHECKPOINT}; train with `fada-bench train {recipe.name}` first")
    obj = make_objective(recipe)
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    params = _named_trainable(obj.trainable())
    with torch.no_grad():
        for k, p in params.items():
            p.data.copy_(state["ema"][k])
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    obj.models.save(tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return int(state["step"])


def _last_state(ckpt: Path) -> Path | None:
    """The state file of the last complete checkpoint in `ckpt` (a run's checkpoint/), or None.
    A save stopped between its two renames (`_save_checkpoint`) leaves no checkpoint/ but
    checkpoint.old/ and checkpoint.tmp/, and the new one is complete then: it was written before
    the old one was moved aside."""
    if (ckpt / "state.pt").is_file():
        return ckpt / "state.pt"
    tmp, old = ckpt.with_name(ckpt.name + ".tmp"), ckpt.with_name(ckpt.name + ".old")
    if old.is_dir() and (tmp / "state.pt").is_file():
        return tmp / "state.pt"
    return None


def _finish_interrupted_save(ckpt: Path) -> None:
    """Complete a save that was stopped between its two renames (by the trainer, under its run lock)."""
    state = _last_state(ckpt)
    if state is not None and state.parent != ckpt:
        state.parent.rename(ckpt)
        shutil.rmtree(ckpt.with_name(ckpt.name + ".old"), ignore_errors=True)


def _save_checkpoint(ckpt: Path, params, ema, opt, step: int, extra: dict) -> None:
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({"params": {k: p.detach().cpu() for k, p in params.items()},
                "ema": {k: v.cpu() for k, v in ema.items()},
                "optimizer": opt.state_dict(), "step": step, "objective": extra}, tmp / "state.pt")
    old = ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)
