"""The FADA generator (fada.pipeline) behind a method card: checkpoint, sampler, steps, CFG.

The generator's package is imported on first use, so the rest of the harness runs where it is
missing; a missing module or checkpoint fails every sample of the method with one reason that
names what is missing and the command that makes it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fada.cfg_modes import CFG_MODES
from fada.errors import InputError

from ..paths import checkpoints_dir
from ..registry import ADAPTERS
from ..types import Generation, Sample
from . import Adapter, fit_frames, with_sample_audio


def trained_folder(card) -> Path:
    """Where `fada-bench train` writes the card's checkpoint."""
    p = Path(card.checkpoint).expanduser()
    return p if p.is_absolute() else checkpoints_dir() / p


def checkpoint_path(card) -> Path:
    """The model folder a card runs: one trained here, else the shipped checkpoint (verified by
    sha256), else the trained folder's path (missing; the caller names the command that makes it)."""
    from ..weight_files import shipped

    trained = trained_folder(card)
    if (trained / "fada.json").is_file() or not shipped.is_shipped(card.checkpoint):
        return trained
    return shipped.model_folder(card.checkpoint)


def to_resolution(frames: np.ndarray, res: int) -> np.ndarray:
    """Frames at the generator's resolution (32-64 px in the synthetic world): area-averaged."""
    import cv2

    if frames.shape[1:3] == (res, res):
        return frames
    return np.stack([cv2.resize(f, (res, res), interpolation=cv2.INTER_AREA) for f in frames])


def to_size(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Generated frames brought back to the suite's size, so every metric sees one frame size."""
    import cv2

    h, w = hw
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in frames])


# The fast decoder of each config (fada.models.fast_decoder): `fada-bench train RECIPE` writes it to
# the checkpoints folder; the tiny one is also shipped.
FAST_DECODER_CHECKPOINTS = {"tiny": "fast_decoder_tiny/model"}


def load_fast_decoder(config_name: str):
    """The fast decoder for a config: one trained here, else the shipped one (verified by sha256)."""
    from fada.models.fast_decoder import FastDecoder

    from ..weight_files import shipped

    name = FAST_DECODER_CHECKPOINTS.get(config_name)
    if name is None:
        raise InputError(f"--decoder fast: no fast decoder is known for the {config_name} config "
                         f"(known: {', '.join(FAST_DECODER_CHECKPOINTS)})")
    folder = checkpoints_dir() / name
    if not (folder / "fast_decoder").is_dir() and shipped.is_shipped(name):
        folder = shipped.model_folder(name)
    if not (folder / "fast_decoder" / "config.json").is_file():
        raise InputError(f"--decoder fast: no fast decoder in {folder / 'fast_decoder'}; make it with "
                         f"`fada-bench train {Path(name).parts[0]}` (it writes runs/ in the current folder), or set "
                         "FADA_BENCH_CHECKPOINTS to the folder that holds it")
    return FastDecoder.from_pretrained(folder / "fast_decoder")


def load_card_models(card):
    """The models of a card's checkpoint, with the error that names the command that makes it."""
    from fada.models.bundle import load_models

    recipe = card.recipe or Path(card.checkpoint).parts[0]
    ckpt = checkpoint_path(card)
    if not (ckpt / "fada.json").is_file():
        raise InputError(f"{card.name}: checkpoint {ckpt} not found (no fada.json there); make it with "
                         f"`fada-bench train {recipe}` (it writes runs/ in the current folder), or set FADA_BENCH_CHECKPOINTS "
                         "to the folder that holds it")
    return ckpt, load_models(ckpt)


@ADAPTERS.register("fada")
class Fada(Adapter):
    requires = ("checkpoint", "sampler", "steps")
    accepts = ("recipe", "cfg")
    timed = True

    def setup(self) -> None:
        try:
            from fada.pipeline import FadaPipeline
        except ImportError as e:
            raise InputError(f"{self.card.name}: the FADA generator cannot be imported ({e}); "
                             "install the project with `pip install -e .`") from None
        ckpt, models = load_card_models(self.card)
        trained = models.denoiser.config.cfg_mode
        want = CFG_MODES.get(self.card.cfg.mode).denoiser_mode
        if trained != want:
            raise InputError(f"{self.card.name}: the card asks for CFG mode {self.card.cfg.mode!r}, but the denoiser "
                             f"in {ckpt} was trained with cfg_mode {trained!r}")
        from ..options import DTYPES

        if self.ctx.decoder == "fast" and models.fast_decoder is None:
            models.fast_decoder = load_fast_decoder(models.config_name)
        self.pipe = FadaPipeline(models, device=self.ctx.device, dtype=DTYPES[self.ctx.dtype], compile=self.ctx.compile,
                                 decoder=self.ctx.decoder)
        self.resolution = models.resolution
        self._warm_up(models)

    def _warm_up(self, models) -> None:
        """One untimed window, so that one-time costs (lazy initialisation, kernel
        selection, the allocator's first blocks) do not land in the first sample's seconds."""
        from fada.data.io import FPS, SAMPLE_RATE

        n = models.frames
        ref = np.full((self.resolution, self.resolution, 3), 128, np.uint8)
        audio = np.zeros(int(round(n / FPS * SAMPLE_RATE)), np.float32)
        audio[:: SAMPLE_RATE // 200] = 0.1
        cfg = self.card.cfg
        self.pipe(ref, audio, n, seed=0, sampler=self.card.sampler, steps=self.card.steps, guidance=CFG_MODES.get(cfg.mode).guidance,
                  cfg_a=cfg.audio or 0.0, cfg_r=cfg.ref or 0.0)

    def generate(self, sample: Sample, seed: int) -> Generation:
        res = self.resolution
        ref = to_resolution(sample.reference[None], res)[0]
        cfg = self.card.cfg
        out = self.pipe(ref, sample.audio, sample.n_frames, seed=seed, sampler=self.card.sampler,
                        steps=self.card.steps, guidance=CFG_MODES.get(cfg.mode).guidance,
                        cfg_a=cfg.audio if cfg.audio is not None else 0.0,
                        cfg_r=cfg.ref if cfg.ref is not None else 0.0)
        video = out.video
        video.frames = to_size(video.frames, sample.reference.shape[:2])
        from fada.profiling import device_name

        return Generation(video, nfe_per_window=out.nfe_per_window, nfe_total=out.nfe_total,
                          windows=out.windows, seconds=dict(out.seconds), first_clip_latency=out.first_clip_latency,
                          peak_mem_gb=out.peak_mem_gb, resolution=res,
                          device=device_name(self.pipe.device),
                          dtype=str(self.pipe.dtype).replace("torch.", ""), compiled=self.ctx.compile)


@ADAPTERS.register("vae_roundtrip")
class VaeRoundtrip(Adapter):
    """The ground truth through a checkpoint's VAE at the generator's resolution and back: the best
    any generator decoding with that VAE can score (an upper anchor beside ground truth and static)."""
    requires = ("checkpoint",)
    accepts = ("recipe",)
    anchor = True

    def setup(self) -> None:
        _, models = load_card_models(self.card)
        self.vae, self.resolution = models.vae.eval(), models.resolution

    def generate(self, sample: Sample, seed: int) -> Generation:
        import torch

        from fada.models.bundle import decode_latents, encode_images

        gt = sample.ground_truth()
        frames = fit_frames(gt.frames, sample, str(sample.video_path))
        x = torch.from_numpy(to_resolution(frames, self.resolution)).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.no_grad():
            y = torch.cat([decode_latents(self.vae, encode_images(self.vae, x[i:i + 16])) for i in range(0, len(x), 16)])
        out = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        return Generation(with_sample_audio(to_size(out, sample.reference.shape[:2]), sample))
