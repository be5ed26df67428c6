"""Reference image + audio -> talking-head video, clip by clip (paper Sec. 3.1).

A video is generated in windows of `frames` frames. The first window's motion frames are the
reference repeated; every later window is conditioned on the last `motion_frames` latents of the
one before, which keeps the video continuous across window boundaries. Per window the ReferenceNet
runs once, on the motion frames (the reference's own tokens are computed once per video: see
ReferenceBank), and the denoiser runs once per sampling step; the audio encoder runs once per video.

Guidance modes:
- "multi": Eq. 9, the three branches (a, r, b) batched in one denoiser call (3 NFE per step);
- "student": one call per step, the CFG scales given to the student's CFG conditioning (Eq. 10);
- "none": one call per step, conditional output only (Table 4's first row).

The fast path (each switch measured on and off by `fada-bench speed`; outputs agree within one
8-bit level in fp32, tests/fada_bench/test_speed.py): the CFG branches in one batch (`batch_cfg`), PyTorch's
SDPA attention kernels (`sdpa`; off: the explicit softmax), `torch.compile` of the denoiser
(`compile`), the VAE decoder `vae_chunk` frames at a time, a window's decode overlapped with the next
window's denoising (`overlap_decode`, fada.decode_overlap), the weights' dtype (bf16 on a GPU), and
audio features once per video and ReferenceNet features once per window, never per step.
`decoder="fast"` decodes with the models' FastDecoder (fada.models.fast_decoder), distilled from
the VAE decoder: it changes the output (by how much: results/perf/README.md), so it is a choice,
not a fast-path switch that must keep the frames.
Stage seconds are read after the device finishes (`fada.profiling.clock`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .data.io import FPS, SAMPLE_RATE, Video, fit_audio_to_frames, to_tensor_images
from .decode_overlap import OverlappedDecoder
from .errors import InputError
from .cfg_modes import GUIDANCE
from .guidance import multi_cfg
from .models.attention import sdpa_attention
from .models.bundle import FadaModels, decode_latents, encode_images
from .profiling import STAGES, clock, peak_memory_gb, reset_peak_memory
from .samplers import SAMPLERS, make_scheduler

DECODERS = ("vae", "fast")


@dataclass
class PipelineOutput:
    video: Video
    nfe_per_window: int
    nfe_total: int
    windows: int
    seconds: dict[str, float] = field(default_factory=dict)
    first_clip_latency: float = float("nan")     # inputs to the first decoded window, seconds
    peak_mem_gb: float = float("nan")            # see fada.profiling.peak_memory_gb


def check_fast_decoder(models: FadaModels) -> None:
    """A FastDecoder imitates one VAE: refuse a missing one, or one distilled from another VAE
    (an empty digest is a random-weight decoder for speed runs, bound to nothing)."""
    from .train.latents import vae_digest

    fast = models.fast_decoder
    if fast is None:
        raise InputError("decoder 'fast' needs a fast decoder attached to the models (models.fast_decoder); "
                         "train one with `fada-bench train fast_decoder_tiny`")
    if fast.config.vae_digest and fast.config.vae_digest != vae_digest(models.vae):
        raise InputError(f"the fast decoder was distilled from another VAE (digest {fast.config.vae_digest}, "
                         f"this VAE's {vae_digest(models.vae)}); train one for this VAE")


class ReferenceBank:
    """The ReferenceNet's tokens for each window: the reference's, then the motion frames'.

    The ReferenceNet reads each image on its own (spatial self-attention and group norms within
    an image, an empty text context), so the reference's tokens are the same in every window:
    they are computed once per video, and per window the ReferenceNet runs only on the M motion
    frames. The first window's motion frames are the reference itself, so it needs no further
    call. The bank equals one ReferenceNet call on (reference, motion frames) up to float
    rounding (tests/fada/models/test_generator.py)."""

    def __init__(self, reference_net, ref_lat: torch.Tensor, motion_frames: int):
        self.net, self.motion_frames = reference_net, motion_frames
        self.ref = reference_net(ref_lat[None, None])           # layer -> (1, tokens, channels)

    def first_window(self) -> dict[str, torch.Tensor]:
        return {k: v.repeat(1, 1 + self.motion_frames, 1) for k, v in self.ref.items()}

    def window(self, motion: torch.Tensor) -> dict[str, torch.Tensor]:
        """motion (M, C, h, w) -> layer -> (1, (1 + M) * tokens, channels)."""
        mot = self.net(motion[None])
        return {k: torch.cat([v, mot[k]], dim=1) for k, v in self.ref.items()}


class FadaPipeline:
    def __init__(self, models: FadaModels, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, *,
                 batch_cfg: bool = True, sdpa: bool = True, compile: bool = False, compile_backend: str = "inductor",
                 vae_chunk: int = 8, overlap_decode: bool = False, decoder: str = "vae"):
        if decoder not in DECODERS:
            raise InputError(f"unknown decoder {decoder!r}; known: {', '.join(DECODERS)}")
        if decoder == "fast":
            check_fast_decoder(models)
        self.models = models.to(device=device, dtype=dtype).eval()
        self.decoder_name = decoder
        self.decoder = models.fast_decoder if decoder == "fast" else models.vae
        self.device, self.dtype = torch.device(device), dtype
        self.batch_cfg, self.sdpa, self.vae_chunk = batch_cfg, sdpa, int(vae_chunk)
        self.overlap_decode = overlap_decode
        # The compiled module shares the denoiser's parameters and its NFE counter.
        self.denoiser = torch.compile(models.denoiser, backend=compile_backend) if compile else models.denoiser

    def _check(self, reference: np.ndarray, audio: np.ndarray, n_frames: int, sampler: str, guidance: str):
        res = self.models.resolution
        if not isinstance(reference, np.ndarray) or reference.ndim != 3 or reference.shape[-1] != 3:
            raise InputError(f"reference must be an H x W x 3 uint8 image, got shape {getattr(reference, 'shape', None)}")
        if reference.shape[:2] != (res, res):
            raise InputError(f"reference image is {reference.shape[1]}x{reference.shape[0]}, this generator "
                             f"({self.models.config_name}) needs {res}x{res}: crop and resize it first "
                             "(`fada-bench data prepare` does)")
        if n_frames <= 0:
            raise InputError(f"n_frames must be positive, got {n_frames}")
        if audio.ndim != 1 or audio.size < SAMPLE_RATE / FPS:
            raise InputError(f"audio must be mono 16 kHz and at least one frame ({SAMPLE_RATE // FPS} samples) long, "
                             f"got shape {audio.shape}")
        SAMPLERS.canonical(sampler)     # an unknown name: the known ones and the closest match
        if guidance not in GUIDANCE:
            raise InputError(f"unknown guidance {guidance!r}; known: {', '.join(GUIDANCE)}")
        mode = self.models.denoiser.config.cfg_mode
        if guidance == "student" and mode == "none":
            raise InputError("guidance 'student' needs a denoiser with CFG conditioning; this one has cfg_mode 'none'")
        if guidance != "student" and mode != "none":
            raise InputError(f"this denoiser is a CFG-distilled student (cfg_mode {mode!r}): use guidance 'student'")

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, audio: np.ndarray, n_frames: int, seed: int = 0,
                 sampler: str = "ddim", steps: int = 25, guidance: str = "multi", cfg_a: float = 6.5,
                 cfg_r: float = 2.5, tcd_gamma: float = 0.3) -> PipelineOutput:
        self._check(reference, audio, n_frames, sampler, guidance)
        with sdpa_attention(self.sdpa):
            return self._generate(reference, audio, n_frames, seed, sampler, steps, guidance, cfg_a, cfg_r, tcd_gamma)

    def _generate(self, reference, audio, n_frames, seed, sampler, steps, guidance, cfg_a, cfg_r, tcd_gamma):
        m, dev, dt = self.models, self.device, self.dtype
        F, M = m.frames, m.motion_frames
        w = m.denoiser.config.audio_window
        windows = -(-n_frames // F)
        secs = dict.fromkeys(STAGES, 0.0)
        gen = torch.Generator().manual_seed(seed)
        nfe0 = m.denoiser.nfe
        reset_peak_memory(dev)
        start = clock(dev)
        first_clip = float("nan")

        # Per video: audio features for every frame (plus w frames of zeros on each side), and the
        # reference latent.
        t0 = start
        total = windows * F
        wav = torch.from_numpy(fit_audio_to_frames(audio, total)).to(dev)[None]
        feats = m.audio_encoder(wav.to(torch.float32), total).to(dt)        # (1, total, L, D)
        feats = torch.nn.functional.pad(feats, (0, 0, 0, 0, w, w))
        secs["audio_encoder"] += clock(dev) - t0
        t0 = clock(dev)
        ref_lat = encode_images(m.vae, to_tensor_images(reference).to(dev, dt))   # (C, h, w)
        secs["vae_encode"] += clock(dev) - t0

        scheduler = make_scheduler(sampler, m.schedule)
        t0 = clock(dev)
        refs = ReferenceBank(m.reference_net, ref_lat, M)
        secs["reference_net"] += clock(dev) - t0
        frames_out, motion = [], None
        decoder = OverlappedDecoder(self.decoder, self.vae_chunk, dev) if self.overlap_decode else None
        scales = torch.tensor([[cfg_a, cfg_r]], device=dev, dtype=dt)
        for i in range(windows):
            t0 = clock(dev)
            bank = refs.first_window() if motion is None else refs.window(motion)    # once per window
            secs["reference_net"] += clock(dev) - t0
            a = feats[:, i * F: i * F + F + 2 * w]
            t0 = clock(dev)
            lat = self._denoise(scheduler, steps, bank, a, ref_lat.shape, gen, guidance, scales, sampler, tcd_gamma)
            secs["denoise"] += clock(dev) - t0
            motion = lat[0, -M:]
            # The last window runs past the video's end: its extra frames guide the denoising
            # (a window is F frames), but decoding them would be a fixed cost spent on nothing.
            keep = lat[0, :min(F, n_frames - i * F)]
            if decoder is not None:
                decoder.submit(keep)
                continue
            t0 = clock(dev)
            frames_out.append(decode_latents(self.decoder, keep, chunk=self.vae_chunk))
            t1 = clock(dev)
            secs["vae_decode"] += t1 - t0
            if i == 0:
                first_clip = t1 - start

        if decoder is not None:
            frames_out, first_done, secs["vae_decode_busy"] = decoder.finish()
            secs["vae_decode"] = decoder.exposed_s       # what the overlap left on the wall clock
            first_clip = first_done - start
        video = torch.cat(frames_out)
        frames = ((video.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        nfe_total = m.denoiser.nfe - nfe0
        out = Video(frames, float(FPS), fit_audio_to_frames(audio, n_frames), SAMPLE_RATE)
        return PipelineOutput(out, nfe_total // windows, nfe_total, windows, secs, first_clip, peak_memory_gb(dev))

    def _denoise(self, scheduler, steps, bank, audio, lat_shape, gen, guidance, scales, sampler, tcd_gamma):
        m, dev, dt = self.models, self.device, self.dtype
        net = self.denoiser
        F = m.frames
        scheduler.set_timesteps(steps, device=dev)
        z = torch.randn((1, F, *lat_shape), generator=gen).to(dev, dt) * scheduler.init_noise_sigma
        if guidance == "multi":
            zeros = {k: torch.zeros_like(v) for k, v in bank.items()}
            bank3 = {k: torch.cat([v, v, zeros[k]]) for k, v in bank.items()}
            audio3 = torch.cat([audio, torch.zeros_like(audio), torch.zeros_like(audio)])
        for t in scheduler.timesteps:
            tt = t.to(dev)
            if guidance == "multi" and self.batch_cfg:
                out = net(z.repeat(3, 1, 1, 1, 1), tt.expand(3), audio3, bank3)
                eps = multi_cfg(out[0:1], out[1:2], out[2:3], scales[:, 0], scales[:, 1])
            elif guidance == "multi":      # the same three branches, one call each
                out = [net(z, tt.expand(1), audio3[j:j + 1], {k: v[j:j + 1] for k, v in bank3.items()}) for j in range(3)]
                eps = multi_cfg(out[0], out[1], out[2], scales[:, 0], scales[:, 1])
            else:
                eps = net(z, tt.expand(1), audio, bank, cfg_scales=scales if guidance == "student" else None)
            kw = {"eta": tcd_gamma, "generator": gen} if sampler == "tcd" else {}
            z = scheduler.step(eps.flatten(0, 1), t, z.flatten(0, 1), **kw).prev_sample.view_as(z)
        return z
