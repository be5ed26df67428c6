"""TCD distillation (recipe kind `tcd`), Table 2's baseline."""
from __future__ import annotations

import copy

import torch

from ..recipe import Recipe, TCDSpec
from . import OBJECTIVES
from .base import rand, randn
from .distillation import DistillObjective


@OBJECTIVES.register("tcd")
class TCDObjective(DistillObjective):
    """TCD (see `fada/losses/tcd.py`): the student as a trajectory consistency function, trained
    against a target network (an EMA of the student with decay `target_ema`) on one teacher DDIM
    step of the `ddim_steps`-point grid. Sampled with diffusers' TCDScheduler."""

    spec = TCDSpec

    def __init__(self, recipe: Recipe):
        super().__init__(recipe)
        o = recipe.objective
        self.num_steps, self.target_ema = o.ddim_steps, o.target_ema
        self.target = copy.deepcopy(self.models.denoiser).requires_grad_(False).eval()

    def after_step(self):
        with torch.no_grad():
            for pt, ps in zip(self.target.parameters(), self.models.denoiser.parameters()):
                pt.lerp_(ps.detach(), 1.0 - self.target_ema)

    def extra_state(self):
        return {"target": {k: v.detach().cpu() for k, v in self.target.state_dict().items()}}

    def load_extra_state(self, state):
        if "target" in state:
            self.target.load_state_dict(state["target"])

    def loss(self, batch, gens):
        from ...losses.perflow import teacher_endpoint
        from ...losses.tcd import consistency_loss, sample_tcd_times, trajectory_consistency

        m = self.models
        self.target.to(next(m.denoiser.parameters()).device)
        with torch.no_grad():
            z0, feats, bank = self.conditions(batch)
        t_start, t_mid, t_s = sample_tcd_times(rand(gens), rand(gens), self.num_steps)
        noise = randn(gens, tuple(z0.shape[1:])).to(z0.device, z0.dtype)
        a_start, a_mid, a_s = (self.sched.alpha(t).to(z0.dtype) for t in (t_start, t_mid, t_s))
        z_start = self.sched.add_noise(z0, noise, t_start)
        eps_fn, feats, bank, scales = self.teacher_and_conditions(feats, bank, gens)

        z_mid = teacher_endpoint(eps_fn, z_start, t_start, t_mid, 1, self.sched.alpha)   # one solver step
        pred = trajectory_consistency(z_start, self._eps(m.denoiser, z_start, t_start, feats, bank, scales),
                                      a_start, a_s)
        with torch.no_grad():
            target = trajectory_consistency(z_mid, self._eps(self.target, z_mid, t_mid, feats, bank, scales),
                                            a_mid, a_s)
        loss = consistency_loss(pred, target)
        return loss, {"t_start": float(t_start.mean()), "t_s": float(t_s.mean())}
