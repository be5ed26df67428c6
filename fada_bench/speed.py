"""`fada-bench speed`: how fast each method generates, measured, with random weights.

Speed does not depend on the weights' values, so the models are built at the chosen config with
random weights (a CFG-distilled student for the cards whose CFG mode is one) and no file is read.
For each method: one untimed warm-up clip, then `repeats` timed clips of `frames` frames, taken
round-robin across the methods (see `run_speed`), each giving seconds per video-second,
first-clip latency (inputs to the first decoded window), the pipeline's per-stage seconds, and
peak memory (on a GPU, CUDA's max allocated less the other methods' models resident beside it;
on a CPU the process's peak RSS, which never goes down, so an upper bound for the method).

FLOPs are counted, not typed: `torch.utils.flop_counter.FlopCounterMode` on one denoiser call
(with the batch the method's guidance uses), the ReferenceNet, the VAE encoder (the reference)
and decoder (one window) and the audio encoder; a clip's FLOPs follow from the counted NFE.
Achieved TFLOP/s = FLOPs / seconds per stage and per clip; the fraction of the device's peak
needs that peak, from `--peak-tflops` or, for the GPUs named in `PEAK_TFLOPS`, their datasheet.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
import torch

from fada.cfg_modes import CFG_MODES
from fada.data.io import FPS, SAMPLE_RATE
from fada.errors import InputError
from fada.profiling import STAGES, allocated_gb, clock, device_name, processor_name

from .options import (DTYPES, OptionError, check_choice, check_device, check_dtype, check_int, decoder_names,
                      method_names, model_config_names)

# Dense tensor-core peaks from the vendors' datasheets (SXM parts), TFLOP/s, for the fraction of
# peak. Only hardware figures live here; every model FLOP is counted.
PEAK_TFLOPS = {("H100", "bf16"): 989.4, ("H100", "fp16"): 989.4, ("H100", "fp32"): 66.9,
               ("H200", "bf16"): 989.4, ("H200", "fp16"): 989.4, ("H200", "fp32"): 66.9,
               ("A100", "bf16"): 312.0, ("A100", "fp16"): 312.0, ("A100", "fp32"): 19.5}


def fast_path_switches() -> list[str]:
    """The fast-path switches: FadaPipeline's keyword-only arguments."""
    import inspect

    from fada.pipeline import FadaPipeline

    params = inspect.signature(FadaPipeline.__init__).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


@dataclass(frozen=True)
class SpeedConfig:
    """`fada-bench speed`, checked when made: methods (FADA cards), model config, device, dtype,
    sizes and fast-path switches, before any model is built."""
    methods: tuple[str, ...]
    config: str = "tiny"
    device: str = "cpu"
    dtype: str = "fp32"
    frames: int = 16
    repeats: int = 3
    seed: int = 0
    peak_tflops: float | None = None
    resolution: int | None = None                # default: the config's (tiny 64, sd15 512)
    fast: dict = field(default_factory=dict)     # FadaPipeline fast-path switches

    def __post_init__(self):
        from fada.models.configs import size_step

        from .registry import METHODS

        object.__setattr__(self, "methods", tuple(self.methods))
        if not self.methods:
            raise OptionError(f"--methods is empty; valid: {', '.join(method_names())}")
        for n in self.methods:
            card = METHODS.get(check_choice("method", n, method_names()))
            if card.adapter != "fada":
                raise OptionError(f"speed measures FADA generators; {card.name} has adapter {card.adapter!r}")
        check_choice("--config", self.config, model_config_names())
        check_device(self.device)
        check_dtype(self.dtype)
        check_int("--frames", self.frames, minimum=1)
        check_int("--repeats", self.repeats, minimum=1)
        step = size_step(self.config)
        if check_int("--resolution", self.resolution, minimum=1, allow_none=True) and self.resolution % step:
            raise OptionError(f"--resolution {self.resolution}: the {self.config} config needs a multiple of {step} "
                              f"(its VAE and UNet downsample by that much)")
        if self.peak_tflops is not None and not self.peak_tflops > 0:
            raise OptionError(f"--peak-tflops must be positive, got {self.peak_tflops}")
        for k in self.fast:
            check_choice("fast-path switch", k, fast_path_switches())
        check_choice("--decoder", self.fast.get("decoder", "vae"), decoder_names())


def device_peak(device: str, dtype: str, override: float | None) -> float | None:
    if override:
        return override
    name = device_name(device)
    for (gpu, dt), peak in PEAK_TFLOPS.items():
        if gpu in name and dt == dtype:
            return peak
    return None


def method_models(card, config: str, seed: int, decoder: str = "vae"):
    """Random-weight models for a method card: the teacher geometry, or a student with the card's
    CFG mode; with `decoder="fast"`, a random-weight fast decoder of the config's geometry attached."""
    from fada.models.bundle import FadaModels, build_models
    from fada.models.denoiser import FadaDenoiser
    from fada.models.fast_decoder import build_fast_decoder

    if card.adapter != "fada":
        raise InputError(f"speed measures FADA generators; {card.name} has adapter {card.adapter!r}")
    base = build_models(config, "none", seed=seed, untrained_audio=True)
    if CFG_MODES.get(card.cfg.mode).guidance == "student":
        base = FadaModels(config, FadaDenoiser.student_from_teacher(base.denoiser, card.cfg.mode), base.reference_net,
                          base.vae, base.audio_encoder, base.schedule, base.audio_source)
    if decoder == "fast":
        base.fast_decoder = build_fast_decoder(config, seed=seed)
    return base


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return int(counter.get_total_flops())


def denoiser_call(models, card, device="cpu", dtype=torch.float32, branches: int | None = None):
    """A no-argument function making one denoiser call of `card`'s method on one window, as the
    pipeline makes it: the three CFG branches batched for multi-CFG guidance (or `branches`), the
    reference read through the ReferenceNet, one window of audio features, the student's scales."""
    from fada.data.io import to_tensor_images
    from fada.models.bundle import encode_images
    from fada.pipeline import ReferenceBank

    m, F = models, models.frames
    guidance = CFG_MODES.get(card.cfg.mode).guidance
    branches = branches or (3 if guidance == "multi" else 1)
    with torch.no_grad():
        ref = to_tensor_images(np.zeros((m.resolution, m.resolution, 3), np.uint8)).to(device, dtype)
        lat = encode_images(m.vae, ref)
        bank = ReferenceBank(m.reference_net, lat, m.motion_frames).first_window()
        w = m.denoiser.config.audio_window
        wav = torch.zeros(1, int(F / FPS * SAMPLE_RATE), device=device)
        feats = torch.nn.functional.pad(m.audio_encoder(wav, F).to(dtype), (0, 0, 0, 0, w, w))[:, : F + 2 * w]
    z = torch.zeros((branches, F, *lat.shape), device=device, dtype=dtype)
    t = torch.full((branches,), 500, device=device)
    scales = (torch.tensor([[card.cfg.audio or 0.0, card.cfg.ref or 0.0]], device=device, dtype=dtype).repeat(branches, 1)
              if guidance == "student" else None)
    feats = feats.repeat(branches, 1, 1, 1)
    bank = {k: v.repeat(branches, *([1] * (v.ndim - 1))) for k, v in bank.items()}

    def call():
        with torch.no_grad():
            return m.denoiser(z, t, feats, bank, cfg_scales=scales)
    return call


@torch.no_grad()
def stage_flops(pipe, card, frames: int) -> dict[str, float]:
    """FLOPs per clip of each stage: counted on one call of each network, times its calls per clip."""
    from fada.models.bundle import decode_latents, encode_images
    from fada.data.io import to_tensor_images
    from fada.pipeline import ReferenceBank

    m, dev, dt = pipe.models, pipe.device, pipe.dtype
    F, M = m.frames, m.motion_frames
    res = m.resolution
    windows = -(-frames // F)
    ref = to_tensor_images(np.zeros((res, res, 3), np.uint8)).to(dev, dt)
    lat = encode_images(m.vae, ref)
    refbank = ReferenceBank(m.reference_net, lat, M)
    motion = lat[None].repeat(M, 1, 1, 1)
    wav = torch.zeros(1, int(frames / FPS * SAMPLE_RATE), device=dev)
    per_call = count_flops(denoiser_call(m, card, dev, dt))
    calls = card.steps * windows                 # NFE = calls x branches
    return {
        "audio_encoder": count_flops(lambda: m.audio_encoder(wav, windows * F)),
        "vae_encode": count_flops(lambda: encode_images(m.vae, ref)),
        # The reference once per video, the motion frames once per window after the first.
        "reference_net": (count_flops(lambda: ReferenceBank(m.reference_net, lat, M))
                          + (windows - 1) * count_flops(lambda: refbank.window(motion))),
        "denoise": calls * per_call,
        "vae_decode": windows * count_flops(lambda: decode_latents(pipe.decoder, torch.zeros((F, *lat.shape), device=dev, dtype=dt))),
    }


@dataclass
class _Timed:
    """One method being timed: its warmed-up pipeline, its inputs and its timed clips so far."""
    card: object
    pipe: object
    inputs: tuple
    kw: dict
    totals: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    stages: dict = field(default_factory=lambda: {s: [] for s in STAGES})
    mems: list = field(default_factory=list)
    busy: list = field(default_factory=list)
    resident_gb: float = 0.0                  # its models' memory on a GPU (fada.profiling.allocated_gb)
    out: object = None


def prepare_method(card, cfg: SpeedConfig) -> _Timed:
    """Build a method's pipeline at the config and run its untimed warm-up clip."""
    from fada.pipeline import FadaPipeline

    before = allocated_gb(cfg.device)
    models = method_models(card, cfg.config, cfg.seed, cfg.fast.get("decoder", "vae"))
    if cfg.resolution:
        models.size = cfg.resolution
    pipe = FadaPipeline(models, device=cfg.device, dtype=DTYPES[cfg.dtype], **cfg.fast)
    res = models.resolution
    rng = np.random.default_rng(cfg.seed)
    ref = rng.integers(0, 255, (res, res, 3), dtype=np.uint8)
    audio = (rng.standard_normal(int(np.ceil(cfg.frames / FPS * SAMPLE_RATE))) * 0.1).astype(np.float32)
    kw = dict(sampler=card.sampler, steps=card.steps, guidance=CFG_MODES.get(card.cfg.mode).guidance, cfg_a=card.cfg.audio or 0.0,
              cfg_r=card.cfg.ref or 0.0, seed=cfg.seed)
    resident = allocated_gb(cfg.device) - before
    pipe(ref, audio, cfg.frames, **kw)                     # warm-up, untimed
    return _Timed(card, pipe, (ref, audio, cfg.frames), kw, resident_gb=resident)


def time_clip(m: _Timed, device: str, others_gb: float = 0.0) -> None:
    """One timed clip. others_gb: the other methods' models resident beside it, taken off the
    GPU's peak so that the peak is the method's own."""
    t0 = clock(device)
    out = m.out = m.pipe(*m.inputs, **m.kw)
    m.totals.append(clock(device) - t0)
    m.latencies.append(out.first_clip_latency)
    for s in STAGES:
        m.stages[s].append(out.seconds.get(s, 0.0))
    m.mems.append(out.peak_mem_gb - others_gb)     # the pipeline resets and reads the peak per call
    # with overlap_decode, vae_decode is the decode's exposed wall-clock time and busy its own
    m.busy.append(out.seconds.get("vae_decode_busy", out.seconds["vae_decode"]))


def summarize(m: _Timed, cfg: SpeedConfig) -> dict:
    card, pipe, out = m.card, m.pipe, m.out
    totals, latencies, stages, mems, busy = m.totals, m.latencies, m.stages, m.mems, m.busy
    res = pipe.models.resolution
    video_s = cfg.frames / FPS
    flops = stage_flops(pipe, card, cfg.frames)
    peak = device_peak(cfg.device, cfg.dtype, cfg.peak_tflops)
    med_total = statistics.median(totals)
    row = {"method": card.name, "config": cfg.config, "device": device_name(cfg.device),
           "decoder": pipe.decoder_name,
           "processor": processor_name(), "threads": torch.get_num_threads(), "dtype": cfg.dtype,
           "resolution": res, "frames": cfg.frames, "repeats": cfg.repeats,
           "nfe_per_window": out.nfe_per_window, "nfe_total": out.nfe_total,
           "sec_per_video_sec": med_total / video_s,
           "sec_per_video_sec_min": min(totals) / video_s, "sec_per_video_sec_max": max(totals) / video_s,
           "first_clip_latency_s": statistics.median(latencies), "peak_mem_gb": max(mems),
           "total_s": med_total, "clip_s": list(totals), "gflop_per_clip": sum(flops.values()) / 1e9,
           "achieved_tflops": sum(flops.values()) / med_total / 1e12}
    row["peak_fraction"] = row["achieved_tflops"] / peak if peak else float("nan")
    row["vae_decode_busy_s"] = statistics.median(busy)
    for s in STAGES:
        row[f"{s}_s"] = statistics.median(stages[s])
        # a stage's rate is over its own seconds: the decoder's busy time, overlapped or not
        sec = row["vae_decode_busy_s"] if s == "vae_decode" else row[f"{s}_s"]
        row[f"{s}_gflop"] = flops[s] / 1e9
        row[f"{s}_tflops"] = flops[s] / sec / 1e12 if sec > 0 else float("nan")
        row[f"{s}_peak_fraction"] = row[f"{s}_tflops"] / peak if peak and sec > 0 else float("nan")
    row["stages_sum_s"] = sum(row[f"{s}_s"] for s in STAGES)
    return row


def run_speed(cfg: SpeedConfig, progress=None) -> list[dict]:
    """Every method's warm-up first, then the timed clips round-robin (repeat 1 of each method,
    then repeat 2, ...): a shared machine's speed drifts by tens of percent over minutes, so the
    methods are compared under the same conditions rather than one after the other.
    `progress(name, done, total)` is called before each clip."""
    from .registry import METHODS

    cards = [METHODS.get(n) for n in cfg.methods]
    total = len(cards) * (cfg.repeats + 1)
    timed = []
    for i, card in enumerate(cards):
        if progress:
            progress(f"{card.name} (warm-up)", i, total)
        timed.append(prepare_method(card, cfg))
    for r in range(cfg.repeats):
        for i, m in enumerate(timed):
            if progress:
                progress(m.card.name, len(cards) * (r + 1) + i, total)
            time_clip(m, cfg.device, sum(o.resident_gb for o in timed if o is not m))
    if progress:
        progress("", total, total)
    return [summarize(m, cfg) for m in timed]
