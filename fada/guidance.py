"""Multi-condition classifier-free guidance (paper Eq. 9) and its distillation embedding (Eq. 10).

Branches, in the order they are batched in one denoiser call:
    a: audio and reference,  r: reference only (audio dropped),  b: neither.
A condition is dropped by zeroing its features, exactly as the teacher saw it in training.
"""
from __future__ import annotations

import math

import torch
from torch import nn

BRANCHES = ("a", "r", "b")


def multi_cfg(eps_a: torch.Tensor, eps_r: torch.Tensor, eps_b: torch.Tensor, cfg_a, cfg_r) -> torch.Tensor:
    # Eq. 9: eps = cfg_a (eps_a - eps_r) + cfg_r (eps_r - eps_b) + eps_b.
    # The weights sum to one, so the same combination holds for v- or x0-predictions.
    cfg_a = _bcast(cfg_a, eps_a)
    cfg_r = _bcast(cfg_r, eps_a)
    return cfg_a * (eps_a - eps_r) + cfg_r * (eps_r - eps_b) + eps_b


def _bcast(scale, like: torch.Tensor) -> torch.Tensor:
    s = torch.as_tensor(scale, dtype=like.dtype, device=like.device)
    return s.view(-1, *([1] * (like.ndim - 1))) if s.ndim == 1 else s


class CFGTokenEmbedding(nn.Module):
    """Eq. 10: Emb_cfg = cfg_a (gamma_a - gamma_r) + cfg_r (gamma_r - gamma_b) + gamma_b, with three
    learnable token sets (the printed paper names gamma_r twice; the structure mirrors Eq. 9)."""

    def __init__(self, n_tokens: int, dim: int):
        super().__init__()
        self.gamma_a = nn.Parameter(torch.randn(n_tokens, dim) * 0.02)
        self.gamma_r = nn.Parameter(torch.randn(n_tokens, dim) * 0.02)
        self.gamma_b = nn.Parameter(torch.randn(n_tokens, dim) * 0.02)

    def forward(self, cfg_scales: torch.Tensor) -> torch.Tensor:
        """cfg_scales (N, 2) = (cfg_a, cfg_r) -> (N, n_tokens, dim)."""
        a = cfg_scales[:, 0, None, None]
        r = cfg_scales[:, 1, None, None]
        return a * (self.gamma_a - self.gamma_r) + r * (self.gamma_r - self.gamma_b) + self.gamma_b


def scale_features(cfg_scales: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of (cfg_a, cfg_r), like a timestep embedding: (N, 2) -> (N, dim)."""
    half = dim // 4
    freq = torch.exp(-math.log(1000.0) * torch.arange(half, device=cfg_scales.device, dtype=torch.float32) / half)
    ang = cfg_scales.float()[..., None] * freq * 10.0           # (N, 2, half)
    feats = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(1)
    return torch.nn.functional.pad(feats, (0, dim - feats.shape[1])).to(cfg_scales.dtype)


class CFGScaleEmbedding(nn.Module):
    """Table 4's "CFG layer" without tokens: the scales embedded directly as tokens by an MLP."""

    def __init__(self, n_tokens: int, dim: int):
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, n_tokens * dim))

    def forward(self, cfg_scales: torch.Tensor) -> torch.Tensor:
        return self.mlp(scale_features(cfg_scales, self.dim)).view(-1, self.n_tokens, self.dim)


class CFGTimeEmbedding(nn.Module):
    """Table 4's "CFG time embed" (omega-condition): the scales' embedding is added to the timestep
    embedding. The last layer starts at zero so the student starts equal to the teacher."""

    def __init__(self, time_dim: int):
        super().__init__()
        self.dim = time_dim
        self.mlp = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, cfg_scales: torch.Tensor) -> torch.Tensor:
        return self.mlp(scale_features(cfg_scales, self.dim))
