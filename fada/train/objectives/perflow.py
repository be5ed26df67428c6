"""PeRFlow distillation (recipe kinds `perflow` and `rflow`), Eqs. 2-5, with mixed supervision (Eqs. 6-8)."""
from __future__ import annotations

import numpy as np
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
    epsilon target through the fixed linear map of Eq. 4 at t = 1.

    The teacher's part of a step (the standpoint and Phi's end point, Eq. 2) can come from a
    teacher-target cache shared with other rows (`fada/train/target_cache.py`, `attach_cache`)."""

    spec = PerflowSpec
    uses_target_cache = True

    def __init__(self, recipe: Recipe):
        super().__init__(recipe)
        from ...losses.mixed_supervision import MixedSupervision

        self.K = self.sched.config.num_windows
        mixed = recipe.objective.mixed
        self.mixed = mixed if isinstance(mixed, MixedSupervision) else None
        self.use_gt = mixed is not None   # Fixed-0 ("none") still logs R but adds no L_gt gradient
        self.cache = None
        # Samples whose teacher targets came from the cache and samples computed live, over the
        # whole run (kept in the checkpoint across resumes; this process's samples): a row can show
        # it read every standpoint the rows it is compared with read.
        self.target_samples = {"cached": 0, "live": 0}
        # What the student outputs: "epsilon" (the teacher's parameterisation, converted to Eq. 4's
        # epsilon; the paper's) or "velocity" (the line's dz/dt, official PeRFlow's velocity matching,
        # which weights every t alike where the epsilon loss gives t near 1 almost none).
        self.parameterisation = recipe.objective.parameterisation     # checked by PerflowSpec
        if self.parameterisation == "velocity":
            self.models.schedule = {**self.models.schedule, "prediction_type": "flow_velocity"}

    def attach_cache(self, cache) -> None:
        """Read standpoints and Phi's end points from `cache` (a `TargetCache`) where it has them."""
        self.cache = cache

    def standpoint(self, shape: tuple, gens) -> dict[str, torch.Tensor]:
        """The sample's random draws, in a fixed order from its own generator: window k (uniform),
        the standpoint's noise, the guidance (`draw_guidance`) and the point s on the line."""
        u = rand(gens)
        window = (torch.floor(u * self.K).long() + 1).clamp(max=self.K)
        noise = randn(gens, shape)
        guidance = self.draw_guidance(gens)
        return {"window": window, "noise": noise, **guidance, "s": rand(gens)}

    def _phi(self, z0, feats, bank, draws):
        """(t_start, t_end, z_start, Phi's end point (Eq. 2), eps_fn's conditions)."""
        from ...losses.perflow import teacher_endpoint

        k = draws["window"].to(z0.device)
        t_start, t_end = k.double() / self.K, (k.double() - 1) / self.K
        z_start = self.sched.add_noise(z0, draws["noise"].to(z0.device, z0.dtype), t_start)   # the standpoint
        eps_fn, feats, bank, scales = self.teacher_and_conditions(feats, bank, draws)
        z_end = draws["z_end"].to(z0.device, z0.dtype) if "z_end" in draws else \
            teacher_endpoint(eps_fn, z_start, t_start, t_end, self.phi_steps, self.sched.alpha)       # Eq. 2
        return t_start, t_end, z_start, z_end, feats, bank, scales

    @torch.no_grad()
    def teacher_targets(self, batch, gens) -> dict[str, np.ndarray]:
        """What a cache entry holds for each sample of `batch` (`fada/train/target_cache.py`)."""
        z0, feats, bank = self.conditions(batch)
        draws = self.standpoint(tuple(z0.shape[1:]), gens)
        *_, z_end, _, _, _ = self._phi(z0, feats, bank, draws)
        out = {k: v.cpu().numpy() for k, v in draws.items()}
        out["z_end"] = z_end.float().cpu().numpy()
        return out

    def loss(self, batch, gens):
        from ...losses.mixed_supervision import mixed_loss
        from ...losses.perflow import distill_loss, epsilon_target, ground_truth_endpoint, interpolate, velocity_target
        from ..ratio_log import ratio_record

        m = self.models
        with torch.no_grad():
            z0, feats, bank = self.conditions(batch)
        cached = self.cache is not None and "sample_index" in batch and self.cache.has(batch["sample_index"])
        if cached:
            draws = self.cache.read(batch["sample_index"], batch.get("pick"))
        else:
            draws = self.standpoint(tuple(z0.shape[1:]), gens)
        noise = draws["noise"].to(z0.device, z0.dtype)
        t_start, t_end, z_start, z_end, feats, bank, scales = self._phi(z0, feats, bank, draws)
        a_start, a_end = self.sched.alpha(t_start).to(z0.dtype), self.sched.alpha(t_end).to(z0.dtype)
        s = draws["s"].to(t_start.dtype)
        t = t_start + s * (t_end - t_start)

        def line_loss(end):
            zt = interpolate(z_start, end, t, t_start, t_end)                                          # Eq. 3
            if self.parameterisation == "velocity":
                out = m.denoiser(zt, self.sched.model_timestep(t).to(zt.dtype), feats, bank, cfg_scales=scales)
                return distill_loss(out, velocity_target(z_start, end, t_start, t_end))
            target = epsilon_target(z_start, end, a_start, a_end)                                      # Eq. 4
            return distill_loss(self._eps(m.denoiser, zt, t, feats, bank, scales), target)             # Eq. 5

        l_distill = line_loss(z_end)
        logs = {}
        if self.use_gt:
            l_gt = line_loss(ground_truth_endpoint(z0, noise, a_end))
            total, ratio, w = mixed_loss(l_distill, l_gt, self.mixed)
            logs = {"R": float(ratio.mean()), "W": float(w.mean()), "L_gt": float(l_gt.detach().mean()),
                    **ratio_record(ratio, batch)}
        else:
            total = l_distill
        logs["L_distill"] = float(l_distill.detach().mean())
        if self.cache is not None:
            self.target_samples["cached" if cached else "live"] += len(batch["sample_index"])
            logs.update(cached=int(cached), cached_samples=self.target_samples["cached"],
                        live_samples=self.target_samples["live"])
        return total, logs

    def extra_state(self) -> dict:
        return {**super().extra_state(), "target_samples": dict(self.target_samples)}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.target_samples.update(state.get("target_samples", {}))
