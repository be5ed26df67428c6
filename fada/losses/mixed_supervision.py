"""Adaptive mixed supervision (paper Sec. 3.2, Eqs. 6-8) and the Table 3 variants.

L = L_distill + W * L_gt per sample, with R = L_gt / L_teacher (L_teacher = L_distill) and
    W = W0 R^s                                 0 <= R < R_p
    W = W0 R_p^s (R_d - R) / (R_d - R_p)        R_p <= R < R_d
    W = 0                                      R >= R_d
No gradient flows through W: it only decides how much the ground truth counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MixedSupervision:
    """One row of Table 3. kind: "fixed" (W = w0), "adaptive_unlimited" (W0 R^s, no peak or
    dead threshold) or "adaptive" (Eqs. 6-8)."""
    kind: str = "adaptive"
    w0: float = 0.2
    s: float = 0.25
    r_peak: float = 30.0
    r_dead: float = 100.0

    def __post_init__(self):
        if self.kind not in ("fixed", "adaptive_unlimited", "adaptive"):
            raise ValueError(f"unknown mixed supervision kind {self.kind!r}")
        if self.kind == "adaptive" and not 0 < self.r_peak < self.r_dead:
            raise ValueError("need 0 < r_peak < r_dead")


def mixed_supervision_weight(ratio: torch.Tensor, cfg: MixedSupervision) -> torch.Tensor:
    """W(R) per sample, detached."""
    r = ratio.detach().clamp(min=0.0)
    if cfg.kind == "fixed":
        return torch.full_like(r, cfg.w0)
    rising = cfg.w0 * r.pow(cfg.s)
    if cfg.kind == "adaptive_unlimited":
        return rising
    peak = cfg.w0 * cfg.r_peak ** cfg.s
    falling = peak * (cfg.r_dead - r) / (cfg.r_dead - cfg.r_peak)
    w = torch.where(r < cfg.r_peak, rising, falling)
    return torch.where(r >= cfg.r_dead, torch.zeros_like(w), w)


def mixed_loss(l_distill: torch.Tensor, l_gt: torch.Tensor, cfg: MixedSupervision | None,
               eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total per-sample loss, R, W). With cfg None there is no ground-truth term (Fixed-0)."""
    ratio = (l_gt / (l_distill + eps)).detach()
    if cfg is None:
        w = torch.zeros_like(ratio)
    else:
        w = mixed_supervision_weight(ratio, cfg)
    return l_distill + w * l_gt, ratio, w
