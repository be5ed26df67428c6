"""A small decoder distilled from a frozen VAE's (recipe kind `fast_decoder`; fada.models.fast_decoder)."""
from __future__ import annotations

from pathlib import Path

import torch

from ...models.bundle import load_models
from ..recipe import FastDecoderSpec, Recipe
from . import OBJECTIVES
from .base import Objective, randn


@OBJECTIVES.register("fast_decoder")
class FastDecoderObjective(Objective):
    """A FastDecoder taught to imitate a frozen VAE's decoder: the VAE encodes the training
    frames, a latent is drawn from its posterior (so the student also sees the neighbourhood of
    each clean latent, as generated latents are never exactly on it), and the loss is the VAE
    recipe's L1 + L2, against the VAE decoder's output on that latent."""

    spec = FastDecoderSpec

    def __init__(self, recipe: Recipe):
        from ...models.fast_decoder import build_fast_decoder

        self.models = load_models(Path(recipe.vae).expanduser())
        self.models.vae.requires_grad_(False).eval()
        self.models.fast_decoder = build_fast_decoder(self.models.config_name, self.models.vae, seed=recipe.seed)

    def trainable(self):
        return [self.models.fast_decoder]

    def networks(self):
        return [self.models.fast_decoder]

    def loss(self, batch, gens):
        vae, fast = self.models.vae, self.models.fast_decoder
        b, f = batch["target"].shape[:2]
        x = batch["target"].flatten(0, 1)
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            noise = randn(gens, (f, *post.mean.shape[1:])).flatten(0, 1).to(x.device, x.dtype)
            z = post.mean + post.std * noise
            target = vae.decode(z).sample.clamp(-1, 1)
        rec = fast(z * vae.config.scaling_factor)
        per = ((rec - target).abs() + (rec - target) ** 2).flatten(1).mean(1)
        return per.view(b, f).mean(1), {"l1": float((rec - target).detach().abs().mean())}
