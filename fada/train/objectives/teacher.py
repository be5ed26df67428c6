"""The teacher's diffusion loss (recipe kind `teacher`), Eq. 1."""
from __future__ import annotations

from ...losses.teacher import apply_dropout, diffusion_target, sample_branches, teacher_loss
from ...models.bundle import build_models, load_models
from ..recipe import Recipe, TeacherSpec
from . import OBJECTIVES
from .base import Objective, betas_cumprod, rand, randint, randn


@OBJECTIVES.register("teacher")
class TeacherObjective(Objective):
    """Eq. 1 on set A, with condition dropout for the three guidance branches."""

    spec = TeacherSpec
    latent_space = True

    def __init__(self, recipe: Recipe):
        if recipe.parent:
            self.models = load_models(recipe.parent)
        else:
            self.models = build_models(recipe.config, seed=recipe.seed)
            if recipe.vae:
                self.models.vae = load_models(recipe.vae).vae
        self.models.vae.requires_grad_(False).eval()
        o = recipe.objective
        self.p_drop_audio, self.p_drop_both = float(o.p_drop_audio), float(o.p_drop_both)
        self.alphas = betas_cumprod(self.models.schedule)
        self.prediction_type = self.models.schedule["prediction_type"]

    def trainable(self):
        return [self.models.denoiser, self.models.reference_net, self.models.audio_encoder]

    def loss(self, batch, gens):
        m = self.models
        z0, feats, bank = self.conditions(batch)
        b = z0.shape[0]
        branches = sample_branches(rand(gens), self.p_drop_audio, self.p_drop_both)
        feats, bank = apply_dropout(branches.to(z0.device), feats, bank)
        t = randint(gens, len(self.alphas))
        noise = randn(gens, tuple(z0.shape[1:])).to(z0.device, z0.dtype)
        a = self.alphas[t].to(z0.device, z0.dtype).view(b, 1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        pred = m.denoiser(zt, t.to(z0.device), feats, bank)
        loss = teacher_loss(pred, diffusion_target(self.prediction_type, z0, noise, a))
        return loss, {f"branch_{n}": float((branches == i).float().mean()) for i, n in enumerate("arb")}
