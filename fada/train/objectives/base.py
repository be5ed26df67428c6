"""What every objective shares: the `Objective` interface, the per-sample random draws and the
teacher's noise schedule.

An objective owns the models (a `FadaModels` bundle), says which of them train, and turns a batch
from `ClipDataset` plus a per-step random generator into (per-sample loss, logs).
"""
from __future__ import annotations

import torch
from torch import nn

from ...models.bundle import FadaModels, encode_images
from ..recipe import ObjectiveSpec


def betas_cumprod(schedule: dict) -> torch.Tensor:
    from ...schedulers.scheduling_perflow import betas_for

    b = betas_for(schedule["num_train_timesteps"], schedule["beta_start"], schedule["beta_end"], schedule["beta_schedule"])
    return torch.cumprod(1.0 - b, dim=0).float()


def randn(gens: list[torch.Generator], shape: tuple) -> torch.Tensor:
    """One standard-normal draw of `shape` per sample, each from its own generator, so a sample's
    randomness does not depend on which process or micro-batch it lands in."""
    return torch.stack([torch.randn(shape, generator=g) for g in gens])


def rand(gens: list[torch.Generator]) -> torch.Tensor:
    return torch.cat([torch.rand(1, generator=g) for g in gens])


def randint(gens: list[torch.Generator], high: int) -> torch.Tensor:
    return torch.cat([torch.randint(0, high, (1,), generator=g) for g in gens])


class Objective:
    models: FadaModels
    spec: type[ObjectiveSpec] = ObjectiveSpec   # the recipe's `objective` section for this kind (no keys here)
    latent_space = False     # trains on VAE latents: the trainer pre-encodes the clips once

    def trainable(self) -> list[nn.Module]:
        raise NotImplementedError

    def loss(self, batch: dict, gens: list[torch.Generator]) -> tuple[torch.Tensor, dict]:
        """Per-sample losses of a batch; `gens` holds one random generator per sample."""
        raise NotImplementedError

    def finalize(self) -> None:
        """Called once before the final save (e.g. to set the VAE's latent scale)."""

    def after_step(self) -> None:
        """Called after each optimizer step (e.g. to move a target network towards the student)."""

    def extra_state(self) -> dict:
        """State besides the trained weights that a resumed run needs (saved in the checkpoint)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def to(self, device) -> None:
        """Move every network the loss runs (trained or frozen) to `device`."""
        self.models.to(device)

    def networks(self) -> list[nn.Module]:
        """The networks the loss runs, for `torch.compile`. The denoiser's UNet, not the denoiser:
        its wrapper counts NFE in a Python integer, which compiled code takes for a constant and
        recompiles for at every call."""
        return [self.models.denoiser.unet, self.models.reference_net]

    def conditions(self, batch):
        """VAE latents of the targets and the reference/motion images (pre-encoded when the data
        carries them), audio features, the ReferenceNet bank."""
        m = self.models
        if "target_latents" in batch:
            z0 = batch["target_latents"]
            refs = torch.cat([batch["reference_latents"][:, None], batch["motion_latents"]], 1)
        else:
            with torch.no_grad():
                z0 = encode_images(m.vae, batch["target"])                              # (B, F, C, h, w)
                refs = encode_images(m.vae, torch.cat([batch["reference"][:, None], batch["motion"]], 1))
        w = m.denoiser.config.audio_window
        feats = m.audio_encoder(batch["audio"], z0.shape[1] + 2 * w)
        bank = m.reference_net(refs)
        return z0, feats, bank
