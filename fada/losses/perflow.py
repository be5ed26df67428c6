"""PeRFlow distillation targets (paper Eqs. 2-5) and the ground-truth end point of Sec. 3.2.

Two parameterisations of the student: epsilon (Eq. 4's target, the paper's) and the line's
velocity (`velocity_target`, as official PeRFlow's velocity matching).

Continuous time t in [0, 1] (t = 1 is noise); alpha(t) is the cumulative signal level. Window k
spans [t_k, t_{k-1}), t_k = k / K. All functions take per-sample tensors; alphas broadcast.
"""
from __future__ import annotations

from typing import Callable

import torch

from .distance import per_sample_mse
from ..schedulers.scheduling_perflow import window_coefficients


def _b(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return x.view(-1, *([1] * (like.ndim - 1))) if x.ndim == 1 else x


def ddim_step(z: torch.Tensor, eps: torch.Tensor, alpha_from, alpha_to) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from alpha_from to alpha_to with noise estimate eps."""
    a0, a1 = _b(alpha_from, z), _b(alpha_to, z)
    x0 = (z - (1 - a0).sqrt() * eps) / a0.sqrt()
    return a1.sqrt() * x0 + (1 - a1).sqrt() * eps


def teacher_endpoint(eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z_start: torch.Tensor,
                     t_start: torch.Tensor, t_end: torch.Tensor, n_steps: int,
                     alpha: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Eq. 2: Phi(z_{t_k}, t_k, t_{k-1}), DDIM run for `n_steps` equal steps inside the window,
    without gradient. `eps_fn(z, t)` is the frozen teacher's (guided) epsilon at continuous t."""
    z = z_start
    with torch.no_grad():
        for i in range(n_steps):
            t0 = t_start + (t_end - t_start) * (i / n_steps)
            t1 = t_start + (t_end - t_start) * ((i + 1) / n_steps)
            z = ddim_step(z, eps_fn(z, t0), alpha(t0), alpha(t1))
    return z


def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, t, t_start, t_end) -> torch.Tensor:
    # Eq. 3 (with the "+ z_{t_k}" term the printed paper drops): the point at t on the segment.
    s = (_b(t, z_start) - _b(t_start, z_start)) / (_b(t_end, z_start) - _b(t_start, z_start))
    return z_start + (z_end - z_start) * s


def epsilon_target(z_start: torch.Tensor, z_end: torch.Tensor, alpha_start, alpha_end) -> torch.Tensor:
    # Eq. 4: epshat = (z_{t_{k-1}} - lambda_k z_{t_k}) / eta_k, the noise one DDIM step from t_k needs
    # to land on z_{t_{k-1}}.
    lam, eta = window_coefficients(_b(alpha_start, z_start), _b(alpha_end, z_start))
    return (z_end - lam * z_start) / eta


def velocity_target(z_start: torch.Tensor, z_end: torch.Tensor, t_start, t_end) -> torch.Tensor:
    """Eq. 3 differentiated in t: the constant velocity dz/dt of the window's line,
    (z_{t_{k-1}} - z_{t_k}) / (t_{k-1} - t_k). The target of velocity matching (official PeRFlow's
    `loss_type="velocity_matching"`, `pred_type="velocity"`); with one window (RFlow) it is
    z_1 - z_0 over t from 1 to 0, i.e. about noise minus data."""
    return (z_end - z_start) / (_b(t_end, z_start) - _b(t_start, z_start))


def ground_truth_endpoint(z0: torch.Tensor, eps: torch.Tensor, alpha_end) -> torch.Tensor:
    """Sec. 3.2: the data marginal at t_{k-1} with the same noise as the standpoint."""
    a1 = _b(alpha_end, z0)
    return a1.sqrt() * z0 + (1 - a1).sqrt() * eps


# Eq. 5 (and L_gt with the ground-truth end point), per sample: distill_loss(eps_pred, eps_target).
distill_loss = per_sample_mse
