"""PeRFlow distillation (recipe kinds `perflow` and `rflow`), Eqs. 2-5, with mixed supervision (Eqs. 6-8)."""
from __future__ import annotations

import torch

from ..recipe import PerflowSpec, Recipe
from . import OBJECTIVES
from .base import rand, randn
from .distillation import DistillObjective


@OBJECTIVES.register("rflow")
@OBJECTIVES.register("perflow")
class PerflowObjective(DistillObjective):
    """PeRFlow (Eqs. 2-5) with optional mixed supervision (Eqs. 6-8). `num_windows` 1 is rectified
    flow (Table 2's RFlow): one straight path from noise; its velocity target z_0 - z_1 is the Eq. 4
    epsilon target through the fixed linear map of Eq. 4 at t = 1."""

    spec = PerflowSpec

    def __init__(self, recipe: Recipe):
        super().__init__(recipe)
        from ...losses.mixed_supervision import MixedSupervision

        self.K = self.sched.config.num_windows
        mixed = recipe.objective.mixed
        self.mixed = mixed if isinstance(mixed, MixedSupervision) else None
        self.use_gt = mixed is not None   # Fixed-0 ("none") still logs R but adds no L_gt gradient

    def loss(self, batch, gens):
        from ...losses.mixed_supervision import mixed_loss
        from ...losses.perflow import distill_loss, epsilon_target, ground_truth_endpoint, interpolate, teacher_endpoint

        m = self.models
        with torch.no_grad():
            z0, feats, bank = self.conditions(batch)
        u = rand(gens)
        k = (torch.floor(u * self.K).long() + 1).clamp(max=self.K)                  # window, uniform
        t_start, t_end = k.double() / self.K, (k.double() - 1) / self.K
        noise = randn(gens, tuple(z0.shape[1:])).to(z0.device, z0.dtype)
        a_start, a_end = self.sched.alpha(t_start).to(z0.dtype), self.sched.alpha(t_end).to(z0.dtype)
        z_start = self.sched.add_noise(z0, noise, t_start)                    # the standpoint, data marginal
        eps_fn, feats, bank, scales = self.teacher_and_conditions(feats, bank, gens)

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
            logs = {"R": float(ratio.mean()), "W": float(w.mean()), "L_gt": float(l_gt.detach().mean())}
        else:
            total = l_distill
        logs["L_distill"] = float(l_distill.detach().mean())
        return total, logs
