"""What the distillation objectives share: PeRFlow (`perflow.py`, Eqs. 2-5, with RFlow as its
one-window case and adaptive mixed supervision, Eqs. 6-8), TCD (`tcd.py`, Table 2's baseline) and
multi-CFG distillation (Sec. 3.3).

Shared by all of them (`DistillObjective`): the frozen teacher, the student made from the teacher
(or from a parent checkpoint) with zero-initialised CFG layers, and the teacher's guided epsilon.
- Without CFG distillation (cfg_mode "none"), each sample keeps or drops its conditions as the
  teacher was trained (the three branches) and the teacher follows that same branch, so the
  student learns every branch and multi-CFG still works at 18 NFE.
- With CFG distillation, the teacher uses Eq. 9 at scales drawn per sample from the recipe's
  ranges, the three branches batched in one call, and the student sees the scales as a condition
  (6 NFE).
"""
from __future__ import annotations

import torch

from ...losses.teacher import apply_dropout, sample_branches
from ...models.bundle import FadaModels, load_models
from ..recipe import DistillSpec, Recipe
from .base import Objective, rand


class DistillObjective(Objective):
    spec = DistillSpec
    latent_space = True

    def __init__(self, recipe: Recipe):
        from ...models.denoiser import FadaDenoiser
        from ...schedulers.scheduling_perflow import PeRFlowScheduler

        o = recipe.objective               # a DistillSpec: checked when the recipe was read
        teacher = load_models(o.teacher)
        self.teacher = teacher.denoiser.requires_grad_(False).eval()
        for mod in (teacher.reference_net, teacher.audio_encoder, teacher.vae):
            mod.requires_grad_(False).eval()
        self.cfg_mode = o.cfg_mode
        # The student starts from its parent (or the teacher); CFG layers new to it start at zero.
        base = load_models(recipe.parent).denoiser if recipe.parent else self.teacher
        student = FadaDenoiser.student_from_teacher(base, self.cfg_mode)
        self.models = FadaModels(teacher.config_name, student, teacher.reference_net, teacher.vae,
                                 teacher.audio_encoder, teacher.schedule, teacher.audio_source)
        # The continuous-time view of the teacher's discrete schedule (alpha(t), model timestep).
        self.sched = PeRFlowScheduler(**{k: teacher.schedule[k] for k in ("num_train_timesteps", "beta_start", "beta_end",
                                                                          "beta_schedule", "prediction_type")},
                                      num_windows=1 if recipe.kind == "rflow" else o.num_windows)
        self.phi_steps = o.phi_steps
        self.cfg_a_range, self.cfg_r_range = o.cfg_a_range, o.cfg_r_range
        self.p_drop_audio, self.p_drop_both = o.p_drop_audio, o.p_drop_both
        self.prediction_type = teacher.schedule["prediction_type"]

    def trainable(self):
        return [self.models.denoiser]

    def to(self, device):
        super().to(device)
        self.teacher.to(device)

    def networks(self):
        return super().networks() + [self.teacher.unet]

    def _eps(self, net, z, t, feats, bank, scales=None):
        """A network's output at continuous time t, as epsilon."""
        out = net(z, self.sched.model_timestep(t).to(z.dtype), feats, bank, cfg_scales=scales)
        if self.prediction_type == "epsilon":
            return out
        a = self.sched.alpha(t).to(z.dtype).view(-1, 1, 1, 1, 1)
        return a.sqrt() * out + (1 - a).sqrt() * z

    def teacher_and_conditions(self, feats, bank, gens):
        """The teacher's epsilon function for this batch and the conditions the student sees:
        (eps_fn, feats, bank, scales)."""
        from ...guidance import multi_cfg

        if self.cfg_mode == "none":
            branches = sample_branches(rand(gens), self.p_drop_audio, self.p_drop_both)
            feats, bank = apply_dropout(branches.to(feats.device), feats, bank)

            def eps_fn(z, t):
                return self._eps(self.teacher, z, t, feats, bank)
            return eps_fn, feats, bank, None

        b = feats.shape[0]
        ra, rr = rand(gens), rand(gens)
        scales = torch.stack([self.cfg_a_range[0] + ra * (self.cfg_a_range[1] - self.cfg_a_range[0]),
                              self.cfg_r_range[0] + rr * (self.cfg_r_range[1] - self.cfg_r_range[0])], 1).to(feats.dtype)
        zero_a = torch.zeros_like(feats)
        feats3 = torch.cat([feats, zero_a, zero_a])
        bank3 = {kk: torch.cat([v, v, torch.zeros_like(v)]) for kk, v in bank.items()}

        def eps_fn(z, t):  # Eq. 9, the three branches in one call
            e = self._eps(self.teacher, z.repeat(3, 1, 1, 1, 1), t.repeat(3), feats3, bank3)
            return multi_cfg(e[:b], e[b:2 * b], e[2 * b:], scales[:, 0], scales[:, 1])
        return eps_fn, feats, bank, scales
