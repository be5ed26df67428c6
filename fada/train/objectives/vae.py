"""The tiny VAE of the synthetic world (recipe kind `vae`)."""
from __future__ import annotations

import torch

from ...models.bundle import build_models, load_models
from ..recipe import Recipe, VaeSpec
from . import OBJECTIVES
from .base import Objective, randn


@OBJECTIVES.register("vae")
class VAEObjective(Objective):
    """A tiny AutoencoderKL for the synthetic world: L1 + L2 reconstruction and a small KL term."""

    spec = VaeSpec

    def __init__(self, recipe: Recipe):
        self.models = load_models(recipe.parent) if recipe.parent else build_models(recipe.config, seed=recipe.seed)
        self.kl_weight = float(recipe.objective.kl_weight)
        self._latent_sq, self._latent_n = 0.0, 0

    def trainable(self):
        return [self.models.vae]

    def loss(self, batch, gens):
        vae = self.models.vae
        b, f = batch["target"].shape[:2]
        x = batch["target"].flatten(0, 1)                                # (B F, 3, H, W)
        post = vae.encode(x).latent_dist
        noise = randn(gens, (f, *post.mean.shape[1:])).flatten(0, 1).to(x.device, x.dtype)
        z = post.mean + post.std * noise
        rec = vae.decode(z).sample
        per = ((rec - x).abs() + (rec - x) ** 2).flatten(1).mean(1)
        kl = post.kl() / x[0].numel()
        loss = (per + self.kl_weight * kl).view(batch["target"].shape[0], -1).mean(1)
        with torch.no_grad():
            self._latent_sq += float((post.mean ** 2).mean())
            self._latent_n += 1
        return loss, {"recon": float(per.mean()), "kl": float(kl.mean())}

    def finalize(self):
        # SD's convention: scale latents to unit variance for the diffusion model.
        if self._latent_n:
            rms = (self._latent_sq / self._latent_n) ** 0.5
            self.models.vae.register_to_config(scaling_factor=float(1.0 / max(rms, 1e-6)))
