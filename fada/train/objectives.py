"""What each recipe kind trains and the loss of one batch. The loop (`trainer.py`) is shared.

An objective owns the models (a `FadaModels` bundle), says which of them train, and turns a batch
from `ClipDataset` plus a per-step random generator into (per-sample loss, logs).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..losses.teacher import apply_dropout, diffusion_target, sample_branches, teacher_loss
from ..models.bundle import FadaModels, build_models, encode_images, load_models
from .recipe import Recipe


def betas_cumprod(schedule: dict) -> torch.Tensor:
    from ..schedulers.scheduling_perflow import betas_for

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


class VAEObjective(Objective):
    """A tiny AutoencoderKL for the synthetic world: L1 + L2 reconstruction and a small KL term."""

    def __init__(self, recipe: Recipe):
        self.models = load_models(recipe.parent) if recipe.parent else build_models(recipe.config, seed=recipe.seed)
        self.kl_weight = float(recipe.objective.get("kl_weight", 1e-4))
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


class TeacherObjective(Objective):
    """Eq. 1 on set A, with condition dropout for the three guidance branches."""

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
        self.p_drop_audio = float(o.get("p_drop_audio", 0.1))
        self.p_drop_both = float(o.get("p_drop_both", 0.1))
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


class FastDecoderObjective(Objective):
    """A FastDecoder (fada.models.fast_decoder) taught to imitate a frozen VAE's decoder: the VAE
    encodes the training frames, a latent is drawn from its posterior (so the student also sees the
    neighbourhood of each clean latent, as generated latents are never exactly on it), and the
    loss is the VAE recipe's L1 + L2, against the VAE decoder's output on that latent."""

    def __init__(self, recipe: Recipe):
        from ..errors import InputError
        from ..models.fast_decoder import build_fast_decoder

        if not recipe.vae:
            raise InputError(f"{recipe.source}: a fast_decoder recipe needs `vae:` (the model folder whose VAE it imitates)")
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


OBJECTIVES = {"vae": VAEObjective, "teacher": TeacherObjective, "fast_decoder": FastDecoderObjective}


def make_objective(recipe: Recipe) -> Objective:
    from . import distillation  # noqa: F401  (registers perflow, rflow and tcd)

    if recipe.kind not in OBJECTIVES:
        from ..errors import InputError

        raise InputError(f"recipe kind {recipe.kind!r} has no objective yet; available: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[recipe.kind](recipe)
