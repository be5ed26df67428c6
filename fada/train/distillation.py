"""Distillation objectives: PeRFlow (Eqs. 2-5, with RFlow as its one-window case), TCD (Table 2's
baseline), adaptive mixed supervision (Eqs. 6-8) and multi-CFG distillation (Sec. 3.3).

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

import copy

import numpy as np
import torch

from ..errors import InputError
from ..losses.teacher import apply_dropout, sample_branches
from ..models.bundle import FadaModels, load_models
from .objectives import OBJECTIVES, Objective, rand, randn
from .recipe import Recipe


class DistillObjective(Objective):
    latent_space = True

    def __init__(self, recipe: Recipe):
        from ..models.denoiser import FadaDenoiser
        from ..schedulers.scheduling_perflow import PeRFlowScheduler

        o = recipe.objective
        if "teacher" not in o:
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
        # The continuous-time view of the teacher's discrete schedule (alpha(t), model timestep).
        self.sched = PeRFlowScheduler(**{k: teacher.schedule[k] for k in ("num_train_timesteps", "beta_start", "beta_end",
                                                                          "beta_schedule", "prediction_type")},
                                      num_windows=1 if recipe.kind == "rflow" else int(o.get("num_windows", 4)))
        self.phi_steps = int(o.get("phi_steps", 8))
        self.cfg_a_range = tuple(o.get("cfg_a_range", [6.5, 6.5]))
        self.cfg_r_range = tuple(o.get("cfg_r_range", [2.5, 2.5]))
        self.p_drop_audio = float(o.get("p_drop_audio", 0.1))
        self.p_drop_both = float(o.get("p_drop_both", 0.1))
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

    def draw_guidance(self, gens) -> dict[str, torch.Tensor]:
        """Per sample, the guidance the teacher follows: the condition-dropout branch ({"branch"}),
        or with CFG distillation the scales of Eq. 9 drawn from the recipe's ranges ({"scales"})."""
        if self.cfg_mode == "none":
            return {"branch": sample_branches(rand(gens), self.p_drop_audio, self.p_drop_both)}
        ra, rr = rand(gens), rand(gens)
        return {"scales": torch.stack([self.cfg_a_range[0] + ra * (self.cfg_a_range[1] - self.cfg_a_range[0]),
                                       self.cfg_r_range[0] + rr * (self.cfg_r_range[1] - self.cfg_r_range[0])], 1)}

    def teacher_and_conditions(self, feats, bank, guidance: dict):
        """The teacher's epsilon function for this batch and the conditions the student sees:
        (eps_fn, feats, bank, scales). `guidance`: from `draw_guidance`."""
        from ..guidance import multi_cfg

        if self.cfg_mode == "none":
            feats, bank = apply_dropout(guidance["branch"].to(feats.device), feats, bank)

            def eps_fn(z, t):
                return self._eps(self.teacher, z, t, feats, bank)
            return eps_fn, feats, bank, None

        b = feats.shape[0]
        scales = guidance["scales"].to(feats.device, feats.dtype)
        zero_a = torch.zeros_like(feats)
        feats3 = torch.cat([feats, zero_a, zero_a])
        bank3 = {kk: torch.cat([v, v, torch.zeros_like(v)]) for kk, v in bank.items()}

        def eps_fn(z, t):  # Eq. 9, the three branches in one call
            e = self._eps(self.teacher, z.repeat(3, 1, 1, 1, 1), t.repeat(3), feats3, bank3)
            return multi_cfg(e[:b], e[b:2 * b], e[2 * b:], scales[:, 0], scales[:, 1])
        return eps_fn, feats, bank, scales


PARAMETERISATIONS = ("epsilon", "velocity")


class PerflowObjective(DistillObjective):
    """PeRFlow (Eqs. 2-5) with optional mixed supervision (Eqs. 6-8). `num_windows` 1 is rectified
    flow (Table 2's RFlow): one straight path from noise; its velocity target z_0 - z_1 is the Eq. 4
    epsilon target through the fixed linear map of Eq. 4 at t = 1.

    The teacher's part of a step (the standpoint and Phi's end point, Eq. 2) can come from a
    teacher-target cache shared with other rows (`target_cache.py`, `attach_cache`)."""

    uses_target_cache = True

    def __init__(self, recipe: Recipe):
        super().__init__(recipe)
        from ..losses.mixed_supervision import MixedSupervision

        self.K = self.sched.config.num_windows
        mixed = recipe.objective.get("mixed")
        self.mixed = None if mixed in (None, "none") else MixedSupervision(**mixed)
        self.use_gt = mixed is not None   # Fixed-0 ("none") still logs R but adds no L_gt gradient
        self.cache = None
        # What the student outputs: "epsilon" (the teacher's parameterisation, converted to Eq. 4's
        # epsilon; the paper's) or "velocity" (the line's dz/dt, official PeRFlow's velocity matching,
        # which weights every t alike where the epsilon loss gives t near 1 almost none).
        self.parameterisation = recipe.objective.get("parameterisation", "epsilon")
        if self.parameterisation not in PARAMETERISATIONS:
            raise InputError(f"{recipe.source}: objective.parameterisation {self.parameterisation!r} is not one of "
                             f"{', '.join(PARAMETERISATIONS)}")
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
        from ..losses.perflow import teacher_endpoint

        k = draws["window"].to(z0.device)
        t_start, t_end = k.double() / self.K, (k.double() - 1) / self.K
        z_start = self.sched.add_noise(z0, draws["noise"].to(z0.device, z0.dtype), t_start)   # the standpoint
        eps_fn, feats, bank, scales = self.teacher_and_conditions(feats, bank, draws)
        z_end = draws["z_end"].to(z0.device, z0.dtype) if "z_end" in draws else \
            teacher_endpoint(eps_fn, z_start, t_start, t_end, self.phi_steps, self.sched.alpha)       # Eq. 2
        return t_start, t_end, z_start, z_end, feats, bank, scales

    @torch.no_grad()
    def teacher_targets(self, batch, gens) -> dict[str, np.ndarray]:
        """What a cache entry holds for each sample of `batch` (`target_cache.py`)."""
        z0, feats, bank = self.conditions(batch)
        draws = self.standpoint(tuple(z0.shape[1:]), gens)
        *_, z_end, _, _, _ = self._phi(z0, feats, bank, draws)
        out = {k: v.cpu().numpy() for k, v in draws.items()}
        out["z_end"] = z_end.float().cpu().numpy()
        return out

    def loss(self, batch, gens):
        from ..losses.mixed_supervision import mixed_loss
        from ..losses.perflow import distill_loss, epsilon_target, ground_truth_endpoint, interpolate, velocity_target
        from .ratio_log import ratio_record

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
            logs["cached"] = int(cached)
        return total, logs


class TCDObjective(DistillObjective):
    """TCD (see `fada/losses/tcd.py`): the student as a trajectory consistency function, trained
    against a target network (an EMA of the student with decay `target_ema`) on one teacher DDIM
    step of the `ddim_steps`-point grid. Sampled with diffusers' TCDScheduler."""

    def __init__(self, recipe: Recipe):
        super().__init__(recipe)
        o = recipe.objective
        self.num_steps = int(o.get("ddim_steps", 50))
        self.target_ema = float(o.get("target_ema", 0.95))
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
        from ..losses.perflow import teacher_endpoint
        from ..losses.tcd import consistency_loss, sample_tcd_times, trajectory_consistency

        m = self.models
        self.target.to(next(m.denoiser.parameters()).device)
        with torch.no_grad():
            z0, feats, bank = self.conditions(batch)
        t_start, t_mid, t_s = sample_tcd_times(rand(gens), rand(gens), self.num_steps)
        noise = randn(gens, tuple(z0.shape[1:])).to(z0.device, z0.dtype)
        a_start, a_mid, a_s = (self.sched.alpha(t).to(z0.dtype) for t in (t_start, t_mid, t_s))
        z_start = self.sched.add_noise(z0, noise, t_start)
        eps_fn, feats, bank, scales = self.teacher_and_conditions(feats, bank, self.draw_guidance(gens))

        z_mid = teacher_endpoint(eps_fn, z_start, t_start, t_mid, 1, self.sched.alpha)   # one solver step
        pred = trajectory_consistency(z_start, self._eps(m.denoiser, z_start, t_start, feats, bank, scales),
                                      a_start, a_s)
        with torch.no_grad():
            target = trajectory_consistency(z_mid, self._eps(self.target, z_mid, t_mid, feats, bank, scales),
                                            a_mid, a_s)
        loss = consistency_loss(pred, target)
        return loss, {"t_start": float(t_start.mean()), "t_s": float(t_s.mean())}


OBJECTIVES["perflow"] = PerflowObjective
OBJECTIVES["rflow"] = PerflowObjective
OBJECTIVES["tcd"] = TCDObjective
