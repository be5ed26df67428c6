"""The FADA generator (fada.pipeline) behind a method card: checkpoint, sampler, steps, CFG.

The generator's package is imported on first use, so the rest of the harness runs where it is
missing; a missing module or checkpoint fails every sample of the method with one reason that
names what is missing and the command that makes it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fada.errors import InputError

from ..paths import REPO_ROOT, checkpoints_dir
from ..registry import ADAPTERS
from ..types import Generation, Sample
from . import Adapter

# Card CFG mode -> the pipeline's guidance: Eq. 9's three branches per step, one pass of a
# CFG-distilled student that takes the scales as a condition (Eq. 10 and Table 4's variants),
# or the conditional output alone.
GUIDANCE = {"multi": "multi", "layer_tokens": "student", "layer": "student", "time_embed": "student", "none": "none"}


def trained_folder(card) -> Path:
    """Where `fada-bench train` writes the card's checkpoint."""
    p = Path(card.checkpoint).expanduser()
    return p if p.is_absolute() else checkpoints_dir() / p


def checkpoint_path(card) -> Path:
    """The model folder a card runs: one trained here, else the shipped checkpoint (verified by
    sha256), else the trained folder's path (missing; the caller names the command that makes it)."""
    from .. import shipped

    trained = trained_folder(card)
    if (trained / "fada.json").is_file() or not shipped.is_shipped(card.checkpoint):
        return trained
    return shipped.model_folder(card.checkpoint)


@ADAPTERS.register("fada")
class Fada(Adapter):
    kind = "fada"
    timed = True

    def setup(self) -> None:
        recipe = self.card.recipe or Path(self.card.checkpoint).parts[0]
        try:
            from fada.pipeline import FadaPipeline
            from fada.models.bundle import load_models
        except ImportError as e:
            raise InputError(f"{self.card.name}: the FADA generator cannot be imported ({e}); "
                             "install the project with `pip install -e .`") from None
        ckpt = checkpoint_path(self.card)
        if not (ckpt / "fada.json").is_file():
            raise InputError(f"{self.card.name}: checkpoint {ckpt} not found (no fada.json there); make it with "
                             f"`fada-bench train {recipe}` (run from {REPO_ROOT}), or set FADA_BENCH_CHECKPOINTS "
                             "to the folder that holds it")
        models = load_models(ckpt)
        trained = models.denoiser.config.cfg_mode
        want = "none" if GUIDANCE[self.card.cfg.mode] != "student" else self.card.cfg.mode
        if trained != want:
            raise InputError(f"{self.card.name}: the card asks for CFG mode {self.card.cfg.mode!r}, but the denoiser "
                             f"in {ckpt} was trained with cfg_mode {trained!r}")
        self.pipe = FadaPipeline(models, device=self.ctx.device)
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
        self.pipe(ref, audio, n, seed=0, sampler=self.card.sampler, steps=self.card.steps, guidance=GUIDANCE[cfg.mode],
                  cfg_a=cfg.audio or 0.0, cfg_r=cfg.ref or 0.0)

    def generate(self, sample: Sample, seed: int) -> Generation:
        import cv2

        res = self.resolution
        ref = sample.reference
        if ref.shape[:2] != (res, res):
            # The generator works at its own resolution (32-64 px in the synthetic world); the
            # video is brought back to the suite's size so every metric sees one frame size.
            ref = cv2.resize(ref, (res, res), interpolation=cv2.INTER_AREA)
        cfg = self.card.cfg
        out = self.pipe(ref, sample.audio, sample.n_frames, seed=seed, sampler=self.card.sampler,
                        steps=self.card.steps, guidance=GUIDANCE[cfg.mode],
                        cfg_a=cfg.audio if cfg.audio is not None else 0.0,
                        cfg_r=cfg.ref if cfg.ref is not None else 0.0)
        video = out.video
        h, w = sample.reference.shape[:2]
        if video.frames.shape[1:3] != (h, w):
            video.frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in video.frames])
        from fada.profiling import device_name

        return Generation(video, nfe_per_window=out.nfe_per_window, nfe_total=out.nfe_total,
                          windows=out.windows, seconds=dict(out.seconds), first_clip_latency=out.first_clip_latency,
                          peak_mem_gb=out.peak_mem_gb, resolution=res,
                          device=device_name(self.pipe.device),
                          dtype=str(self.pipe.dtype).replace("torch.", ""))
