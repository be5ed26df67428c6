"""TCD distillation (Table 2's TCD baseline; Zheng et al. 2024, "Trajectory Consistency Distillation").

The student is a trajectory consistency function f(z_t, t, s): from any point of the teacher's
probability-flow ODE at time t it predicts the point at an earlier time s <= t. TCD parameterises
f semi-linearly with the exponential integrator of the PF-ODE; at first order that is exactly the
DDIM map from t to s with the network's noise estimate, so f is `ddim_step` (one implementation).

Training (the TCD paper's Algorithm, with the DDIM solver of N steps):
- a grid point t_{n+1} = (n+1) / N, n uniform in {0..N-1}, and the next grid point t_n = n / N;
- a target time s = m / N, m uniform in {0..n} (s <= t_n; s = 0 is the clean sample);
- z_{t_{n+1}} from the data marginal; one teacher DDIM step to z^_{t_n} (no gradient);
- loss || f_theta(z_{t_{n+1}}, t_{n+1}, s) - f_theta-(z^_{t_n}, t_n, s) ||^2 with theta- an EMA of
  the student (the "target network").
Continuous time t in [0, 1] (t = 1 is noise) as in `perflow.py`: grid point n / N is training
timestep n T / N - 1, so N = 50 matches diffusers' `TCDScheduler` default `original_inference_steps`.
"""
from __future__ import annotations

import torch

from .distance import per_sample_mse
from .perflow import ddim_step


def sample_tcd_times(u_n: torch.Tensor, u_s: torch.Tensor, num_steps: int):
    """(t_start, t_mid, t_s) per sample from two uniform draws: t_start = (n+1)/N, t_mid = n/N,
    t_s = m/N with n uniform in {0..N-1} and m uniform in {0..n}."""
    n = torch.floor(u_n.double() * num_steps).clamp(max=num_steps - 1)
    m = torch.floor(u_s.double() * (n + 1)).clamp(max=n)
    return (n + 1) / num_steps, n / num_steps, m / num_steps


def trajectory_consistency(z_t: torch.Tensor, eps: torch.Tensor, alpha_t, alpha_s) -> torch.Tensor:
    """f(z_t, t, s): the first-order semi-linear (exponential-integrator) solution of the PF-ODE from
    t to s with noise estimate eps, which is the DDIM map; f(z, t, t) = z."""
    return ddim_step(z_t, eps, alpha_t, alpha_s)


# TCD's L2 distance d(f_theta, f_theta-), per sample.
consistency_loss = per_sample_mse
