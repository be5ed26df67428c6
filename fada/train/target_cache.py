"""The frozen teacher's PeRFlow targets, computed once and shared by every row that distils from it.

Most of a PeRFlow step is Phi (Eq. 2): `phi_steps` teacher DDIM steps inside the window. Phi depends
only on the teacher, the clip, the standpoint z_{t_k} and the guidance the teacher follows; none of
it depends on the student. So the standpoints and their Phi end points are computed once per
(teacher, training set, guidance, sampler) and every row whose recipe agrees on those reads them in
the same order: the same clips, noise, windows and end points at the same steps. The rows then
differ only in what they are testing (mixed supervision, the student's parameterisation or CFG
layer), and the noise of the standpoints is common to all of them (common random numbers), which
narrows the noise in the differences between rows.

One entry per global training sample (step * batch_size + j), in the trainer's order:

    clip, epoch      the dataset index and epoch the trainer's data order picks (checked on read)
    window           k (Eq. 2's window, 1..K)
    noise            the standpoint's noise: z_{t_k} = sqrt(alpha(t_k)) z_0 + sqrt(1 - alpha(t_k)) noise
    s                the point's place on the window's line (Eq. 3: t = t_k + s (t_{k-1} - t_k))
    branch           the condition dropout the teacher and the student follow (0 a, 1 r, 2 b), or
    scales           (cfg_a, cfg_r) of Eq. 9 for a CFG-distillation row (the student sees them too)
    z_end            Phi(z_{t_k}, t_k, t_{k-1}) (Eq. 2), float32

These are exactly the draws of `PerflowObjective.standpoint` from the sample's own generator, so
a cached step equals the live one to float rounding. The clip's latents, audio and reference
come from the data as in a live step (they are cheap); the ground-truth end point of mixed
supervision (Sec. 3.2) follows from z_0 and the cached noise.

Which rows share a cache: the key is a hash of the teacher's files, the training set (the
manifest's content, split, tiers, frames, size, windows per clip, the latents' VAE), the recipe
seed and batch size (they fix the data order and the per-sample generators), K and phi_steps, and
the guidance (the dropout probabilities; for CFG distillation the scale ranges). Mixed supervision,
the student's parent, CFG layer, learning rate and steps are not in it. In the tiny recipes: Table
3 "Student with A" (= Table 2 PeRFlow) and "Fixed-0.2, only A" share the set-A cache; every set-B
row of Table 3 (Fixed-0, Fixed-0.2, Fixed-1.0, Adaptive-unlimited 0.5 and 0.25, Adaptive-0.5,
FADA-Balanced) shares the set-B cache; both RFlow rows (epsilon and velocity) share the one-window,
25-step cache; the three CFG-distillation rows of Table 4 share a cache with their sampled scales.
TCD's targets are one DDIM step from a different time grid and are not cached.

Storage: `ROOT/KEY/` holds `key.json` (what the key hashes), one memory-mapped `.npy` per field
(`np.lib.format.open_memmap`, sized for the planned entries) and `progress.json` (the entries
written, in order, updated only after the arrays are flushed), so the build resumes where it
stopped and a trainer can read while it runs. Build it with
`OMP_NUM_THREADS=1 fada-bench train-cache build RECIPE` (in the background; one builder per cache,
`run_lock.py`), train with
`fada-bench train RECIPE --target-cache ROOT`. A step whose entries are not built yet is computed
live (and logged `cached: 0`), so training never waits for the build.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..data.io import write_text_atomic
from ..data.manifest import manifest_sha256
from ..errors import InputError
from ..hashing import folder_sha256
from .run_lock import exclusive

FORMAT = 1
PROGRESS = "progress.json"
KEY_FILE = "key.json"


def key_material(recipe, obj, n_items: int, latents: Path | None) -> dict:
    """What decides a cache's content (see the module docstring): equal material, equal entries."""
    o, d = recipe.objective, recipe.data
    if obj.cfg_mode == "none":
        guidance = {"mode": "branches", "p_drop_audio": obj.p_drop_audio, "p_drop_both": obj.p_drop_both}
    else:
        guidance = {"mode": "multi_cfg", "cfg_a_range": list(obj.cfg_a_range), "cfg_r_range": list(obj.cfg_r_range)}
    return {
        "format": FORMAT,
        "teacher_sha256": folder_sha256(o.teacher),
        "data": {"training_set_sha256": manifest_sha256(d.folder), "split": "train",
                 "tiers": sorted(d.tiers), "n_frames": d.n_frames, "size": d.size,
                 "windows_per_clip": d.windows_per_clip, "items": n_items,
                 "latents": latents.name if latents is not None else None},
        "seed": recipe.seed, "batch_size": recipe.optim.batch_size,
        "sampler": {"num_windows": obj.K, "phi_steps": obj.phi_steps, "schedule": obj.sched.config.beta_schedule,
                    "prediction_type": obj.prediction_type},
        "guidance": guidance,
    }


def cache_key(material: dict) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


class TargetCache:
    """One cache folder: memory-mapped fields, `done` entries written in order."""

    def __init__(self, folder: Path, material: dict, n_entries: int, z_shape: tuple[int, ...], writable: bool):
        self.folder, self.material = folder, material
        guided = material["guidance"]["mode"] == "multi_cfg"
        self.fields = {"clip": ((), np.int64), "epoch": ((), np.int64), "window": ((), np.int64),
                       "s": ((), np.float32), "noise": (z_shape, np.float32), "z_end": (z_shape, np.float32),
                       **({"scales": ((2,), np.float32)} if guided else {"branch": ((), np.int64)})}
        key_path = folder / KEY_FILE
        if key_path.is_file():
            meta = json.loads(key_path.read_text())
            if meta["material"] != material:
                raise InputError(f"{key_path}: this cache was built for other targets (its key.json differs); "
                                 "remove the folder or choose another --target-cache root")
            self.n_entries = int(meta["entries"])
            if writable and n_entries > self.n_entries:
                raise InputError(f"{folder}: built for {self.n_entries} entries, {n_entries} asked; build a new "
                                 "cache (remove the folder) to train longer with cached targets")
        elif writable:
            folder.mkdir(parents=True, exist_ok=True)
            self.n_entries = n_entries
            for name, (shape, dtype) in self.fields.items():
                np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=(n_entries, *shape)).flush()
            write_text_atomic(folder / PROGRESS, json.dumps({"done": 0}) + "\n")
            write_text_atomic(key_path, json.dumps({"material": material, "entries": n_entries,
                                                    "z_shape": list(z_shape)}, indent=1) + "\n")
        else:
            raise InputError(f"no teacher-target cache in {folder}")
        self.arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r+" if writable else "r")
                       for name in self.fields}

    @property
    def entry_bytes(self) -> int:
        """Bytes one entry takes on disk, summed over the fields."""
        return sum(a.nbytes for a in self.arrays.values()) // self.n_entries

    def check_free_space(self, up_to: int) -> None:
        """Stop with the numbers when the disk cannot hold the entries up to `up_to`: the arrays are
        sparse files, and a memory-mapped write that finds the disk full kills the process (SIGBUS)
        instead of raising."""
        need, free = max(0, up_to - self.done) * self.entry_bytes, shutil.disk_usage(self.folder).free
        if need > free:
            raise InputError(f"{self.folder}: the build needs {size_text(need)} more and the disk has "
                             f"{size_text(free)} free; free some space, or build under another root "
                             "(--cache), then run this again: it resumes where it stopped")

    @property
    def done(self) -> int:
        try:
            return int(json.loads((self.folder / PROGRESS).read_text())["done"])
        except (OSError, ValueError, KeyError):
            return 0

    def write(self, start: int, entry: dict[str, np.ndarray]) -> None:
        """Entries [start, start + n) in order; `done` moves only after the data is on disk."""
        n = len(entry["clip"])
        if start != self.done:
            raise RuntimeError(f"{self.folder}: writing entry {start} but {self.done} are done (entries go in order)")
        for name in self.fields:
            self.arrays[name][start:start + n] = entry[name]
        for a in self.arrays.values():
            a.flush()
        write_text_atomic(self.folder / PROGRESS, json.dumps({"done": start + n}) + "\n")

    def has(self, indices) -> bool:
        return max(int(i) for i in indices) < min(self.done, self.n_entries)

    def read(self, indices, picks=None) -> dict[str, torch.Tensor]:
        """The entries at global sample `indices`; `picks` ((clip, epoch) per sample, from the
        trainer's data order) must match what the cache was built on."""
        idx = np.asarray([int(i) for i in indices])
        out = {name: torch.from_numpy(np.array(a[idx])) for name, a in self.arrays.items()}
        if picks is not None:
            got = torch.stack([out["clip"], out["epoch"]], 1)
            if not torch.equal(got, torch.as_tensor(picks, dtype=torch.int64).view(-1, 2)):
                raise InputError(f"{self.folder}: entries {idx.tolist()} were built on clips {got.tolist()}, the "
                                 f"trainer drew {torch.as_tensor(picks).tolist()}; the cache does not fit this "
                                 "data folder (rebuild it)")
        return out


def open_cache(root: str | os.PathLike, recipe, obj, n_items: int, latents: Path | None,
               n_entries: int | None = None, writable: bool = False, material: dict | None = None) -> TargetCache:
    """The cache of `recipe`'s targets under `root` (made when `writable`); `material`: its
    `key_material`, where the caller has it already (it hashes the teacher's files)."""
    material = material or key_material(recipe, obj, n_items, latents)
    folder = Path(root) / cache_key(material)
    if not writable and not (folder / KEY_FILE).is_file():
        raise InputError(f"no teacher-target cache for {recipe.name} in {folder}; build it with "
                         f"`OMP_NUM_THREADS=1 fada-bench train-cache build {recipe.name} --cache {root}`")
    vae = obj.models.vae.config
    down = 2 ** (len(vae.block_out_channels) - 1)
    z_shape = (recipe.data.n_frames, vae.latent_channels, recipe.data.size // down, recipe.data.size // down)
    return TargetCache(folder, material, n_entries or recipe.steps * recipe.optim.batch_size, z_shape, writable)


def size_text(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _guidance_text(g: dict) -> str:
    if g.get("mode") == "multi_cfg":
        return f"multi-CFG, cfg_a {g['cfg_a_range']}, cfg_r {g['cfg_r_range']}"
    return f"branches (drop audio {g.get('p_drop_audio')}, both {g.get('p_drop_both')})"


def cache_summaries(root: str | os.PathLike) -> list[dict]:
    """What each cache under `root` holds and how far its build is (`fada-bench train-cache list`).

    Per folder: key, the training set's tiers, K, phi_steps, the guidance, the teacher's sha256
    prefix, steps built of planned, bytes on disk (the arrays are sparse files that fill as the
    build goes) and of the finished cache, and when the progress last moved (UTC). A folder whose
    key.json cannot be read is listed with `problem` set, not skipped."""
    root = Path(root)
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        files = [f.stat() for f in folder.iterdir() if f.is_file()]
        row = {"key": folder.name, "folder": str(folder), "disk_bytes": sum(s.st_blocks * 512 for s in files),
               "full_bytes": sum(s.st_size for s in files)}
        try:
            meta = json.loads((folder / KEY_FILE).read_text())
            m, batch = meta["material"], int(meta["material"]["batch_size"])
            done = int(json.loads((folder / PROGRESS).read_text())["done"])
            row.update(tiers="+".join(m["data"]["tiers"]), windows=m["sampler"]["num_windows"],
                       phi_steps=m["sampler"]["phi_steps"], guidance=_guidance_text(m["guidance"]),
                       teacher=m["teacher_sha256"][:12], steps_done=done // batch,
                       steps=int(meta["entries"]) // batch,
                       updated=datetime.fromtimestamp((folder / PROGRESS).stat().st_mtime, timezone.utc))
        except (OSError, ValueError, KeyError, TypeError) as e:
            row["problem"] = f"not a readable cache ({type(e).__name__}: {e})"
        rows.append(row)
    return rows


def build_target_cache(recipe, root: str | os.PathLike, steps: int | None = None, progress=None,
                       encode_progress=None, workers: int = 1) -> Path:
    """Compute and store the targets of `recipe`'s first `steps` steps (default: all), in the
    trainer's order, resuming after the entries already written. Returns the cache folder.
    `progress(step, steps)` follows the build, `encode_progress(done, total)` the encoding of a new
    training set's latents before it. `workers` > 1 computes that many steps at once in separate
    processes, each on its share of this process's threads: a tiny teacher's step keeps one
    thread busier than it keeps two, so on a small CPU processes of one thread each build faster
    than one process on all of them. Each step is computed exactly as a one-process build computes
    it (its own batch and per-sample generators; the same float results on the same thread count),
    and the entries are written in order, so the cache, its resuming and a trainer reading beside
    it are the same either way."""
    from .latents import encode_clip_latents
    from .objectives import make_objective
    from .trainer import prepare_data

    # The targets do not depend on the student, so its parent is not loaded: a CFG-distillation
    # cache can be built while the row it starts from is still training.
    recipe = dataclasses.replace(recipe, parent=None)
    torch.manual_seed(recipe.seed)
    obj = make_objective(recipe)
    if not getattr(obj, "uses_target_cache", False):
        raise InputError(f"{recipe.source}: recipe kind {recipe.kind!r} has no cacheable teacher targets "
                         "(only perflow and rflow recipes do)")
    ds, lat_dir = prepare_data(recipe, obj, main=False)       # the latents' folder, not encoded yet
    B = recipe.optim.batch_size
    n_steps = recipe.steps if steps is None else min(steps, recipe.steps)
    material = key_material(recipe, obj, len(ds), lat_dir)
    folder = Path(root) / cache_key(material)
    with exclusive(folder, "built", "build"):    # before the arrays are made: a second builder must not remake them
        cache = open_cache(root, recipe, obj, len(ds), lat_dir, n_entries=recipe.steps * B, writable=True,
                           material=material)
        cache.check_free_space(n_steps * B)
        # Encoding a new training set's latents takes minutes; the cache exists before it, so a
        # trainer started beside the build finds the cache (and runs live until entries arrive).
        if lat_dir is not None:
            encode_clip_latents(recipe.data.folder, list(ds.rows["id"]), obj.models.vae, recipe.data.size, lat_dir,
                                progress=encode_progress)
        todo = range(cache.done // B, n_steps)
        with _sigterm_stops():
            if workers <= 1 or len(todo) <= 1:
                _write_steps(cache, todo, (step_targets(recipe, obj, ds, step) for step in todo), n_steps, progress)
            else:
                import multiprocessing

                threads = max(1, torch.get_num_threads() // workers)
                # spawn, not fork: a forked child of a process that has run OpenMP threads can hang.
                with multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker,
                                                               initargs=(recipe, threads)) as pool:
                    _write_steps(cache, todo, pool.imap(_worker_step_targets, todo), n_steps, progress)
    return folder


def step_targets(recipe, obj, ds, step: int) -> dict[str, np.ndarray]:
    """The cache entries of one training step: its batch's standpoints and Phi's end points."""
    from torch.utils.data import default_collate

    from .trainer import batch_indices, sample_generator

    B = recipe.optim.batch_size
    picks = batch_indices(recipe.seed, step, B, len(ds))
    batch = default_collate([ds.get(idx, salt=epoch) for idx, epoch in picks])
    gens = [sample_generator(recipe.seed, step, j) for j in range(B)]
    with torch.no_grad():
        entry = obj.teacher_targets(batch, gens)
    entry["clip"] = np.array([p[0] for p in picks])
    entry["epoch"] = np.array([p[1] for p in picks])
    return entry


def _write_steps(cache: TargetCache, todo: range, entries, n_steps: int, progress) -> None:
    B = int(cache.material["batch_size"])
    for step, entry in zip(todo, entries):
        cache.write(step * B, entry)
        if progress:
            progress(step + 1, n_steps)


_WORKER: dict = {}


def _start_worker(recipe, threads: int) -> None:
    """A build worker's own objective and training set (the latents are encoded already)."""
    from .objectives import make_objective
    from .trainer import prepare_data

    torch.set_num_threads(threads)
    torch.manual_seed(recipe.seed)
    obj = make_objective(recipe)
    ds, _ = prepare_data(recipe, obj, main=False)
    _WORKER.update(recipe=recipe, obj=obj, ds=ds)


def _worker_step_targets(step: int) -> dict[str, np.ndarray]:
    return step_targets(_WORKER["recipe"], _WORKER["obj"], _WORKER["ds"], step)


@contextmanager
def _sigterm_stops():
    """SIGTERM raises KeyboardInterrupt here, as Ctrl-C does, so leaving a worker pool's block ends
    its workers (the default action would end this process alone and leave them waiting) and the
    command can say where the build stopped. The entries written so far are kept (an entry counts
    once `progress.json` says so); the same command resumes after them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
