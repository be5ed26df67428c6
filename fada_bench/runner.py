"""`fada-bench run`: generate every (method, sample) video, score it, summarise.

Resume is per sample: after each sample the runner writes one JSON record (atomically) saying
what is finished: the video and its content hash, the card and seed that made it, and each
metric's value or cached features. A second run on the same folder skips every finished step, so
a SIGKILL loses at most the sample in flight and a metric added later scores only that metric.

With several processes (`accelerate launch -m fada_bench.cli run ...` or torchrun), process k
takes samples k, k + P, k + 2P, ...; every process writes its own records, and process 0 waits
for the others and writes the summary from all records.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from fada.errors import InputError
from fada.hashing import sha256_file
from fada.profiling import processor_name

from .adapters import RunContext, make_adapter
from .cards import MethodCard
from .options import (OptionError, check_choice, check_device, check_dtype, check_int, default_dtype,
                      decoder_names, method_names, metric_names, suite_names)
from .registry import METHODS, METRICS, metric_available
from .paths import REPO_ROOT
from .scoring import Scorer, VideoFiles, error_text, make_metric
from .rows import backbone_hashes, checkpoint_hashes
from .store import RunStore, StorageError
from .suites import Suite, make_suite
from .summary import MethodPlan, generated, sample_status, samples_frame, scored, summary_frame


@dataclass(frozen=True)
class RunConfig:
    """What `fada-bench run` does, checked when made: an unknown method, suite, metric, device or
    dtype is an OptionError listing the valid values, before any suite is read or model loaded."""
    methods: tuple[str, ...]
    suite: str
    out: Path
    limit: int | None = None
    seed: int = 0
    metrics: tuple[str, ...] | None = None      # None: every available metric; (): none
    device: str = "cpu"
    dtype: str | None = None                    # fp32, bf16 or fp16; None: fp32 on a CPU, bf16 on a GPU
    compile: bool = False                       # torch.compile the denoiser
    data: Path | None = None
    method_folders: dict[str, Path] = field(default_factory=dict)
    decoder: str = "vae"                   # the FADA generators' decoder: vae, or fast (fada.models.fast_decoder)

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)   # noqa: E731  (frozen: set once, here)
        put("methods", tuple(self.methods))
        if not self.methods:
            raise OptionError(f"--methods is empty; valid: {', '.join(method_names())}")
        for m in self.methods:
            check_choice("method", m, method_names())
        check_choice("suite", self.suite, suite_names())
        put("out", Path(self.out))
        check_int("--limit", self.limit, minimum=1, allow_none=True)
        check_int("--seed", self.seed)
        if self.metrics is not None:
            put("metrics", tuple(self.metrics))
            for n in self.metrics:
                check_choice("metric", n, metric_names())
        check_device(self.device)
        put("dtype", check_dtype(self.dtype or default_dtype(self.device)))
        put("compile", bool(self.compile))
        check_choice("--decoder", self.decoder, decoder_names())
        if self.data is not None:
            put("data", Path(self.data))
        folders = {str(k): Path(v) for k, v in dict(self.method_folders).items()}
        named = {METHODS.canonical(m) for m in self.methods}
        for name in folders:
            if name not in METHODS or METHODS.canonical(name) not in named:
                raise OptionError(f"--method-folder {name}=...: {name!r} is not one of --methods "
                                  f"({', '.join(self.methods)}); the folder would not be used")
        put("method_folders", folders)


@dataclass
class RunResult:
    out: Path
    summary: object            # pandas DataFrame (None on processes other than 0)
    n_samples: int
    n_failed: int
    failures: list[tuple[str, str, str]]   # (method, sample, error), the first few
    # methods whose samples an earlier run left in the folder, not in this run's summary
    not_summarised: list[str] = field(default_factory=list)

    @property
    def all_failed(self) -> bool:
        return self.n_samples > 0 and self.n_failed == self.n_samples


Progress = Callable[[str, int, int], None]   # (method, done, total)


def sample_seed(seed: int, sample_id: str) -> int:
    """A generation seed per sample, independent of order and sharding."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{sample_id}".encode()).digest()[:4], "little") & 0x7FFFFFFF


# ---------------------------------------------------------------------------- setup

def resolve_methods(names) -> list[MethodCard]:
    cards, seen = [], set()
    for n in names:
        card = METHODS.get(n)
        if card.name not in seen:           # an alias names the same run
            seen.add(card.name)
            cards.append(card)
    return cards


def resolve_metrics(names: list[str] | None, world: str) -> dict[str, type]:
    """Metric classes by their result key (name[backbone]). None: every metric available in this
    world except the long-video ones, which only a long video can feed."""
    if names is None:
        chosen = [cls for _, cls in METRICS.items() if metric_available(cls, world)[0] and not cls.long_video]
    else:
        chosen = []
        for n in names:
            # A bare name (sync_d) means that metric on whichever backbone serves this world.
            same = [METRICS.get(n)] if n in METRICS else [c for _, c in METRICS.items() if n in (c.name, c.key())]
            if not same:
                METRICS.get(n)      # raises: unknown, with the known keys and close matches
            usable = [c for c in same if metric_available(c, world)[0]]
            if not usable:
                why = "; ".join(f"{c.key()}: {metric_available(c, world)[1]}" for c in same)
                raise InputError(f"metric {n} cannot run on the {world} world: {why}")
            chosen += usable
    out = {}
    for cls in chosen:
        out.setdefault(cls.key(), cls)
    return out


def distributed(device: str):
    """(rank, world size, accelerate state or None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    return state.process_index, state.num_processes, state


def environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for pkg in ("fada-bench", "torch", "numpy", "diffusers", "transformers", "accelerate", "torchmetrics",
                "av", "pandas", "scipy", "mediapipe"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    git = {"commit": None, "dirty": None}
    try:
        git["commit"] = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                       text=True, timeout=10, check=True).stdout.strip()
        git["dirty"] = bool(subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "-uno"],
                                           capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    import torch

    hw = {"platform": platform.platform(), "machine": platform.machine(), "processor": processor_name(),
          "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
          "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
          if torch.cuda.is_available() else []}
    return {"versions": versions, "git": git, "hardware": hw}


def _identity(suite: Suite) -> dict:
    # What must not change between a run and its resumption (paths may).
    return {k: v for k, v in suite.info().items() if k not in ("cache", "split_file", "data")}


# ---------------------------------------------------------------------------- the run

def run_benchmark(cfg: RunConfig, progress: Progress | None = None) -> RunResult:
    cards = resolve_methods(cfg.methods)
    suite = make_suite(cfg.suite, cfg.data)
    ids = suite.ids()[: cfg.limit]
    if not ids:
        raise InputError(f"suite {suite.name} has no samples")
    rank, world_size, state = distributed(cfg.device)
    device = str(state.device) if state is not None and cfg.device != "cpu" else cfg.device
    metric_classes = resolve_metrics(cfg.metrics if cfg.metrics is not None else suite.metrics, suite.world)
    metrics = {k: make_metric(c, cfg.seed, suite.world, device) for k, c in metric_classes.items()}

    store = RunStore(cfg.out)
    store.check_writable()
    old = (store.read_json("run.json") or {}).get("config")
    # Runs made before --decoder existed decoded with the VAE.
    if old and old.get("decoder", "vae") != cfg.decoder:
        raise InputError(f"{cfg.out} holds a run decoded with --decoder {old.get('decoder', 'vae')}; "
                         f"resume it with the same --decoder, or choose another --out")
    # Runs made before --dtype existed ran in float32.
    if old and (old.get("suite_identity"), old.get("seed"), old.get("dtype", "fp32")) != (
            _identity(suite), cfg.seed, cfg.dtype):
        raise InputError(f"{cfg.out} holds a run of suite {old.get('suite')} with seed {old.get('seed')} in "
                         f"{old.get('dtype', 'fp32')}; resume it with the same --suite, --seed and --dtype, "
                         "or choose another --out")
    run_info = {
        "config": {"methods": [c.name for c in cards], "suite": suite.name, "suite_identity": _identity(suite),
                   "suite_info": suite.info(), "limit": cfg.limit, "n_samples": len(ids), "seed": cfg.seed,
                   "metrics": list(metrics), "device": cfg.device, "dtype": cfg.dtype,
                   "compile": cfg.compile, "processes": world_size, "decoder": cfg.decoder,
                   "cards": {c.name: {"path": str(c.path), "fingerprint": c.fingerprint(), "adapter": c.adapter,
                                      "checkpoint": c.checkpoint, "sampler": c.sampler, "steps": c.steps,
                                      "cfg": vars(c.cfg), "expected_nfe": c.expected_nfe,
                                      "checkpoint_hashes": checkpoint_hashes(c)} for c in cards},
                   # what a scored row's identity needs (rows.py): the weights each value came from
                   "backbones": backbone_hashes(list(metrics))},
        "seeds": {"run": cfg.seed, "sample": "sha256(f'{run}/{sample_id}')[:4] as a 31-bit integer",
                  "bootstrap": cfg.seed},
        "command": sys.argv, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "running", **environment()}
    if rank == 0:
        store.write_json("run.json", run_info)

    mine = ids[rank::world_size]
    suite.prepare(mine)
    scorer = Scorer(store, metrics)
    ctx = RunContext(device=device, dtype=cfg.dtype, compile=cfg.compile, method_folders=dict(cfg.method_folders),
                     decoder=cfg.decoder)
    timed = {}
    for card in cards:
        adapter = make_adapter(card, ctx)
        timed[card.name] = adapter.timed
        _run_method(card, adapter, mine, suite, store, scorer, cfg.seed, progress)

    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return RunResult(store.root, None, 0, 0, [])

    records = {(c.name, sid): store.read_record(c.name, sid) for c in cards for sid in ids}
    plans = [MethodPlan(c.name, timed[c.name], ids) for c in cards]
    index = {sid: i for i, sid in enumerate(ids)}
    summary, replicates = summary_frame(plans, records, metrics, scorer, suite.sample, index)
    store.write_samples(samples_frame(plans, records, metrics))
    store.write_summary(summary)
    store.write_replicates(replicates)
    statuses = [(m, sid, *sample_status(r, list(metrics))) for (m, sid), r in records.items()]
    failed = [(m, sid, err) for m, sid, st, err in statuses if st != "ok"]
    store.write_json("run.json", {**run_info, "status": "finished",
                                  "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "n_failed": len(failed)})
    named = {c.name for c in cards}
    return RunResult(store.root, summary, len(statuses), len(failed), failed[:20],
                     [m for m in store.methods_on_disk() if m not in named])


def _finished_generation(rec: dict | None, card: MethodCard, seed: int, store: RunStore) -> bool:
    if not generated(rec) or rec.get("card") != card.fingerprint() or rec.get("run_seed") != seed:
        return False
    path = store.root / rec["gen"]["video"]
    # The video on disk must be the one that was scored: a damaged or replaced file is regenerated.
    return path.is_file() and sha256_file(path) == rec["gen"]["video_sha256"]


def _run_method(card: MethodCard, adapter, ids: list[str], suite: Suite, store: RunStore, scorer: Scorer,
                seed: int, progress: Progress | None) -> None:
    setup_error, set_up = None, False
    for done, sid in enumerate(ids):
        rec = store.read_record(card.name, sid)
        if not _finished_generation(rec, card, seed, store):
            if not set_up:       # load a generator only when something needs generating
                set_up = True
                try:
                    adapter.setup()
                except Exception as e:   # e.g. a missing checkpoint: every sample fails with this reason
                    setup_error = error_text(e)
            rec = _generate(card, adapter, sid, suite, store, seed, setup_error)
        missing = [k for k in scorer.metrics if not scored(rec, k)]
        if generated(rec) and missing:
            files = VideoFiles(lambda: suite.sample(sid), store.root / rec["gen"]["video"], rec.get("gt_sha256"))
            for k in missing:
                rec["scored"][k] = scorer.score(k, files, rec["gen"]["video_sha256"])
            if any(scorer.uses_ground_truth(k) for k in missing):
                rec["gt_sha256"] = files.gt_sha
            store.write_record(rec)
        if progress:
            progress(card.name, done + 1, len(ids))


def _generate(card: MethodCard, adapter, sid: str, suite: Suite, store: RunStore, seed: int,
              setup_error: str | None) -> dict:
    s = sample_seed(seed, sid)
    rec = {"method": card.name, "sample": sid, "card": card.fingerprint(), "run_seed": seed, "seed": s,
           "scored": {}}
    t0 = time.perf_counter()
    try:
        if setup_error:
            raise InputError(setup_error)
        sample = suite.sample(sid)
        gen = adapter.generate(sample, s)
        seconds = time.perf_counter() - t0
        path, sha = store.write_video(card.name, sid, gen.video)
        rec["gen"] = {"status": "ok", "error": None, "seconds": seconds, "video": str(path.relative_to(store.root)),
                      "video_sha256": sha, "video_seconds": gen.video.n_frames / gen.video.fps,
                      "nfe_per_window": gen.nfe_per_window, "nfe_total": gen.nfe_total, "windows": gen.windows,
                      "stage_seconds": gen.seconds, "first_clip_latency_s": gen.first_clip_latency,
                      "peak_mem_gb": gen.peak_mem_gb, "device": gen.device, "dtype": gen.dtype,
                      "compiled": gen.compiled,
                      "resolution": gen.resolution}
    except StorageError:
        raise
    except Exception as e:   # one sample's failure is recorded; the run goes on
        rec["gen"] = {"status": "failed", "error": error_text(e), "seconds": time.perf_counter() - t0}
    store.write_record(rec)
    return rec
