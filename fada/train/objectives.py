"""What each recipe kind trains and the loss of one batch. The loop (`trainer.py`) is shared.

An objective owns the models (a `FadaModels` bundle), says which of them train, and turns a batch
from `ClipDataset` plus a per-step random generator into (per-sample loss, logs).
"""
from __future__ import annotations

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


OBJECTIVES = {"vae": VAEObjective, "teacher": TeacherObjective}


def make_objective(recipe: Recipe) -> Objective:
    if recipe.kind not in OBJECTIVES:
        from ..errors import InputError

        raise InputError(f"recipe kind {recipe.kind!r} has no objective yet; available: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[recipe.kind](recipe)


class PerflowObjective(Objective):
    """PeRFlow distillation (Eqs. 2-5) from a frozen teacher, with optional adaptive mixed
    supervision (Eqs. 6-8) and optional multi-CFG distillation (Sec. 3.3).

    The student is the teacher's denoiser (plus the CFG conditioning of `cfg_mode`); the teacher's
    ReferenceNet, audio encoder and VAE are shared and frozen, so the student runs the same
    conditions.
    - Without CFG distillation (cfg_mode "none"), each sample keeps or drops its conditions as the
      teacher was trained (the three branches) and the teacher's end point follows that same
      branch, so the student learns every branch and multi-CFG still works at 18 NFE.
    - With CFG distillation, the teacher's end point is made with Eq. 9 at scales drawn per sample
      from the recipe's ranges, and the student sees the scales as a condition (6 NFE).
    `num_windows` 1 is rectified flow (Table 2's RFlow): one straight path from noise.
    """

    latent_space = True

    def __init__(self, recipe: Recipe):
        from ..models.denoiser import FadaDenoiser

        o = recipe.objective
        if "teacher" not in o:
            from ..errors import InputError

            raise InputError(f"{recipe.source}: objective.teacher (the teacher checkpoint folder) is required")
        teacher = load_models(o["teacher"])
        self.teacher = teacher.denoiser.requires_grad_(False).eval()
        for mod in (teacher.reference_net, teacher.audio_encoder, teacher.vae):
            mod.requires_grad_(False).eval()
        self.cfg_mode = o.get("cfg_mode", "none")
        # The student starts from its parent (or the teacher); CFG layers new to it start at zero.
        base = load_models(recipe.parent).denoiser if recipe.parent else self.teacher
        student = FadaDenoiser.student_from_teacher(base, self.cfg_mode)
        self.models = FadaModels(teacher.config_name, student, teacher.reference_net, teacher.vae,
                                 teacher.audio_encoder, teacher.schedule, teacher.audio_source)
        from ..losses.mixed_supervision import MixedSupervision
        from ..schedulers.scheduling_perflow import PeRFlowScheduler

        self.sched = PeRFlowScheduler(**{k: teacher.schedule[k] for k in ("num_train_timesteps", "beta_start", "beta_end",
                                                                          "beta_schedule", "prediction_type")},
                                      num_windows=1 if recipe.kind == "rflow" else int(o.get("num_windows", 4)))
        self.K = self.sched.config.num_windows
        self.phi_steps = int(o.get("phi_steps", 8))
        self.cfg_a_range = tuple(o.get("cfg_a_range", [6.5, 6.5]))
        self.cfg_r_range = tuple(o.get("cfg_r_range", [2.5, 2.5]))
        self.p_drop_audio = float(o.get("p_drop_audio", 0.1))
        self.p_drop_both = float(o.get("p_drop_both", 0.1))
        mixed = o.get("mixed")
        self.mixed = None if mixed in (None, "none") else MixedSupervision(**mixed)
        self.use_gt = mixed is not None   # Fixed-0 ("none") still logs R but adds no L_gt gradient
        self.prediction_type = teacher.schedule["prediction_type"]

    def trainable(self):
        return [self.models.denoiser]

    def _eps(self, net, z, t, feats, bank, scales=None):
        """A network's output at continuous time t, as epsilon."""
        out = net(z, self.sched.model_timestep(t).to(z.dtype), feats, bank, cfg_scales=scales)
        if self.prediction_type == "epsilon":
            return out
        a = self.sched.alpha(t).to(z.dtype).view(-1, 1, 1, 1, 1)
        return a.sqrt() * out + (1 - a).sqrt() * z

    def loss(self, batch, gens):
        from ..guidance import multi_cfg
        from ..losses.perflow import distill_loss, epsilon_target, ground_truth_endpoint, interpolate, teacher_endpoint
        from ..losses.mixed_supervision import mixed_loss

        m = self.models
        with torch.no_grad():
            z0, feats, bank = self.conditions(batch)
        b = z0.shape[0]
        u = rand(gens)
        k = (torch.floor(u * self.K).long() + 1).clamp(max=self.K)                  # window, uniform
        t_start, t_end = k.double() / self.K, (k.double() - 1) / self.K
        noise = randn(gens, tuple(z0.shape[1:])).to(z0.device, z0.dtype)
        a_start, a_end = self.sched.alpha(t_start).to(z0.dtype), self.sched.alpha(t_end).to(z0.dtype)
        z_start = a_start.sqrt().view(-1, 1, 1, 1, 1) * z0 + (1 - a_start).sqrt().view(-1, 1, 1, 1, 1) * noise

        if self.cfg_mode == "none":
            branches = sample_branches(rand(gens), self.p_drop_audio, self.p_drop_both)
            feats, bank = apply_dropout(branches.to(z0.device), feats, bank)
            scales = None

            def eps_fn(z, t):
                return self._eps(self.teacher, z, t, feats, bank)
        else:
            ra, rr = rand(gens), rand(gens)
            scales = torch.stack([self.cfg_a_range[0] + ra * (self.cfg_a_range[1] - self.cfg_a_range[0]),
                                  self.cfg_r_range[0] + rr * (self.cfg_r_range[1] - self.cfg_r_range[0])], 1).to(z0.dtype)
            zero_a = torch.zeros_like(feats)
            zero_bank = {kk: torch.zeros_like(v) for kk, v in bank.items()}
            feats3 = torch.cat([feats, zero_a, zero_a])
            bank3 = {kk: torch.cat([v, v, zero_bank[kk]]) for kk, v in bank.items()}

            def eps_fn(z, t):  # Eq. 9 inside Phi, the three branches in one call
                e = self._eps(self.teacher, z.repeat(3, 1, 1, 1, 1), t.repeat(3), feats3, bank3)
                return multi_cfg(e[:b], e[b:2 * b], e[2 * b:], scales[:, 0], scales[:, 1])

        z_end = teacher_endpoint(eps_fn, z_start, t_start, t_end, self.phi_steps, self.sched.alpha)   # Eq. 2
        s = rand(gens).to(t_start.dtype)
        t = t_start + s * (t_end - t_start)
        zt = interpolate(z_start, z_end, t, t_start, t_end)                                            # Eq. 3
        target = epsilon_target(z_start, z_end, a_start, a_end)                                        # Eq. 4
        l_distill = distill_loss(self._eps(m.denoiser, zt, t, feats, bank, scales), target)            # Eq. 5
        logs = {}
        if self.use_gt:
            z_end_gt = ground_truth_endpoint(z0, noise, a_end)
            zt_gt = interpolate(z_start, z_end_gt, t, t_start, t_end)
            l_gt = distill_loss(self._eps(m.denoiser, zt_gt, t, feats, bank, scales),
                                epsilon_target(z_start, z_end_gt, a_start, a_end))
            total, ratio, w = mixed_loss(l_distill, l_gt, self.mixed)
            logs = {"R": float(ratio.mean()), "W": float(w.mean()), "L_gt": float(l_gt.mean())}
        else:
            total = l_distill
        logs["L_distill"] = float(l_distill.mean())
        return total, logs


OBJECTIVES["perflow"] = PerflowObjective
OBJECTIVES["rflow"] = PerflowObjective
