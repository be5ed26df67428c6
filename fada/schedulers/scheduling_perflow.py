"""Piecewise rectified flow (PeRFlow) sampling in the epsilon parameterisation (paper Eqs. 2-5).

Time t in [0, 1] is split into K equal windows [t_k, t_{k-1}), t_k = k / K. Inside a window the
student's trajectory is the straight line from z_{t_k} to z_{t_{k-1}} (Eq. 3), and its epsilon
output is the constant that one DDIM step from t_k would need to land on z_{t_{k-1}} (Eq. 4):

    z_{t_{k-1}} = lambda_k z_{t_k} + eta_k eps,
    lambda_k = sqrt(alpha(t_{k-1}) / alpha(t_k)),
    eta_k    = sqrt(1 - alpha(t_{k-1})) - sqrt(1 - alpha(t_k)) lambda_k.

So from any point of the line, z = z_start + s (z_end - z_start) with s in [0, 1), and the
model's epsilon, both ends follow in closed form and the next point is on the same line.

A student trained by velocity matching (`prediction_type="flow_velocity"`) outputs the line's
velocity v = dz/dt (Eq. 3 differentiated) instead: the ends are then z_start = z - (t - t_k) v and
z_end = z + (t_{k-1} - t) v, and Eq. 4 gives its epsilon.

Time and the discrete schedule: alpha(t) is alphas_cumprod at training timestep tau = t T - 1
(t = 1 is the noisiest training step, T - 1), and alpha(0) = 1, the clean end; the model is
called at timestep tau(t).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput


@dataclass
class PeRFlowSchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


def window_step_counts(num_steps: int, num_windows: int) -> list[int]:
    """Steps per window, from t = 1 down: floor(N / K) + 1 for the first N mod K windows, floor(N / K)
    for the rest (6 steps over 4 windows: 2, 2, 1, 1)."""
    if num_steps < 1 or num_windows < 1:
        raise ValueError(f"need at least one step and one window, got {num_steps} steps, {num_windows} windows")
    base, extra = divmod(num_steps, num_windows)
    return [base + 1 if k < extra else base for k in range(num_windows)]


def betas_for(num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str) -> torch.Tensor:
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float64) ** 2
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    raise ValueError(f"unknown beta_schedule {beta_schedule!r}; known: scaled_linear, linear")


def window_coefficients(alpha_start: torch.Tensor, alpha_end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4's lambda_k and eta_k for a window from alpha(t_k) = alpha_start to alpha(t_{k-1}) = alpha_end."""
    lam = torch.sqrt(alpha_end / alpha_start)
    eta = torch.sqrt(1.0 - alpha_end) - torch.sqrt(1.0 - alpha_start) * lam
    return lam, eta


class PeRFlowScheduler(SchedulerMixin, ConfigMixin):
    order = 1

    @register_to_config
    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012,
                 beta_schedule: str = "scaled_linear", num_windows: int = 4, prediction_type: str = "epsilon"):
        betas = betas_for(num_train_timesteps, beta_start, beta_end, beta_schedule)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.init_noise_sigma = 1.0
        self.num_inference_steps: int | None = None
        self.timesteps = torch.tensor([])
        self._plan: list[tuple[int, float, float]] = []   # per step: window k, s, s_next
        self._step_index = 0

    # ------------------------------------------------------------------ time helpers
    def alpha(self, t: torch.Tensor | float) -> torch.Tensor:
        """alpha(t), linear in tau between training steps; alpha(0) = 1."""
        t = torch.as_tensor(t, dtype=torch.float64)
        T = self.config.num_train_timesteps
        table = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])   # tau = -1 .. T-1
        pos = (t * T).clamp(0, T)                                                     # index into table
        lo = pos.floor().long().clamp(max=T - 1)
        w = pos - lo
        return table[lo] * (1 - w) + table[lo + 1] * w

    def model_timestep(self, t: torch.Tensor | float) -> torch.Tensor:
        return torch.as_tensor(t, dtype=torch.float64) * self.config.num_train_timesteps - 1.0

    def window_bounds(self, k: int) -> tuple[float, float]:
        """(t_k, t_{k-1}) of window k = K .. 1."""
        K = self.config.num_windows
        return k / K, (k - 1) / K

    # ------------------------------------------------------------------ sampling
    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        K = self.config.num_windows
        plan, times = [], []
        for i, n in enumerate(window_step_counts(num_inference_steps, K)):
            k = K - i
            t0, t1 = self.window_bounds(k)
            for j in range(n):
                s, s_next = j / n, (j + 1) / n
                plan.append((k, s, s_next))
                times.append(t0 + s * (t1 - t0))
        self._plan = plan
        self.num_inference_steps = num_inference_steps
        self.continuous_timesteps = torch.tensor(times, dtype=torch.float64)
        self.timesteps = self.model_timestep(self.continuous_timesteps).to(device=device, dtype=torch.float32)
        self._step_index = 0

    def to_epsilon(self, model_output: torch.Tensor, sample: torch.Tensor, t: float) -> torch.Tensor:
        """The model's output as epsilon: v-prediction converts by eps = sqrt(a) v + sqrt(1 - a) z."""
        if self.config.prediction_type == "epsilon":
            return model_output
        if self.config.prediction_type == "v_prediction":
            a = self.alpha(t).to(sample.dtype)
            return a.sqrt() * model_output + (1 - a).sqrt() * sample
        raise ValueError(f"unsupported prediction_type {self.config.prediction_type!r}")

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, return_dict: bool = True):
        """Move from the current point of the window's line to the next one (or the window's end)."""
        if not self._plan:
            raise RuntimeError("call set_timesteps before step")
        k, s, s_next = self._plan[self._step_index]
        self._step_index += 1
        t0, t1 = self.window_bounds(k)
        t = t0 + s * (t1 - t0)
        # 1. the window's coefficients (Eq. 4)
        lam, eta = window_coefficients(self.alpha(t0), self.alpha(t1))
        lam, eta = lam.to(sample.dtype), eta.to(sample.dtype)
        if self.config.prediction_type == "flow_velocity":
            # 2. both ends of the line through `sample`, from its velocity (Eq. 3), and Eq. 4's epsilon
            z_start = sample - (t - t0) * model_output
            z_end = sample + (t1 - t) * model_output
            eps = (z_end - lam * z_start) / eta
        else:
            eps = self.to_epsilon(model_output, sample, t)
            # 2. both ends of the line through `sample` (Eq. 3 inverted): z = (1 - s) z_start + s z_end
            #    and z_end = lam z_start + eta eps  =>  z_end = (z + (1 - s) eta eps / lam) / ((1 - s) / lam + s)
            z_end = (sample + (1 - s) * eta * eps / lam) / ((1 - s) / lam + s)
            z_start = (z_end - eta * eps) / lam
        # 3. the next point on the line
        prev = z_start + s_next * (z_end - z_start)
        a1 = self.alpha(t1).to(sample.dtype)
        x0 = (z_end - (1 - a1).sqrt() * eps) / a1.sqrt()
        if not return_dict:
            return (prev, x0)
        return PeRFlowSchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The forward marginal at continuous time t: sqrt(alpha) z0 + sqrt(1 - alpha) eps."""
        a = self.alpha(t).to(original.dtype)
        a = a.view(-1, *([1] * (original.ndim - 1))) if a.ndim == 1 else a
        return a.sqrt() * original + (1 - a).sqrt() * noise

    def __len__(self) -> int:
        return self.config.num_train_timesteps
