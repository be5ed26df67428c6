"""The attention layers FADA adds to an SD-style UNet (paper Sec. 3.1, Sec. 3.3).

- Reference attention: the ReferenceNet records the input of every spatial self-attention
  (`ReferenceWrite`); the denoiser's matching self-attention attends to its own tokens and those
  recorded tokens together (`ReferenceRead`), which is how the reference identity reaches every
  layer.
- Audio attention: the cross-attention of each transformer block attends to per-frame audio
  tokens. After it comes the CFG layer of Eq. 10 (`AudioCFGProcessor`), a cross-attention to the
  guidance embedding whose output projection starts at zero.
- Temporal attention: self-attention over the frames at each spatial position, after every
  spatial transformer (`TemporalAttention`), its output projection also zero at start.

The per-forward inputs (the reference bank, the frame count, the guidance embedding) reach the
processors through one shared `ForwardContext`, set by the model's forward and cleared after.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from torch import nn


@dataclass
class ForwardContext:
    frames: int = 1                                        # frames per clip in the batch
    bank: dict[str, torch.Tensor] = field(default_factory=dict)   # layer -> (clips, tokens, C)
    cfg_emb: torch.Tensor | None = None                    # (clips, tokens, C_cfg) or None
    recording: bool = False


_SDPA = [True]


@contextmanager
def sdpa_attention(enabled: bool = True):
    """Within the block, `attend` uses PyTorch's SDPA kernels (flash or memory-efficient where the
    device has them) or, when disabled, the explicit softmax(q k^T / sqrt(d)) v."""
    old = _SDPA[0]
    _SDPA[0] = enabled
    try:
        yield
    finally:
        _SDPA[0] = old


def attend(attn: Attention, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Multi-head attention of `x` (B, N, C) over `context` (B, M, C') with attn's projections."""
    b = x.shape[0]
    q, k, v = attn.to_q(x), attn.to_k(context), attn.to_v(context)
    h = attn.heads
    d = q.shape[-1] // h
    q, k, v = (t.view(b, -1, h, d).transpose(1, 2) for t in (q, k, v))
    if _SDPA[0]:
        out = F.scaled_dot_product_attention(q, k, v)
    else:
        out = torch.softmax((q @ k.transpose(-1, -2)) * d ** -0.5, dim=-1) @ v
    out = out.transpose(1, 2).reshape(b, -1, h * d).to(q.dtype)
    return attn.to_out[1](attn.to_out[0](out))


class ReferenceWrite:
    """ReferenceNet self-attention: plain self-attention that also records its input tokens."""

    def __init__(self, name: str, ctx: ForwardContext):
        self.name, self.ctx = name, ctx

    def __call__(self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        if self.ctx.recording:
            self.ctx.bank[self.name] = hidden_states
        return attend(attn, hidden_states, hidden_states)


class ReferenceRead:
    """Denoiser self-attention over [own tokens; the matching ReferenceNet tokens].

    The bank holds one entry per clip (reference image and motion frames, tokens concatenated);
    each frame of that clip attends to it."""

    def __init__(self, name: str, ctx: ForwardContext):
        self.name, self.ctx = name, ctx

    def __call__(self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        ref = self.ctx.bank.get(self.name)
        if ref is None:
            return attend(attn, hidden_states, hidden_states)
        ref = ref.repeat_interleave(self.ctx.frames, dim=0).to(hidden_states.dtype)
        return attend(attn, hidden_states, torch.cat([hidden_states, ref], dim=1))


class CFGLayer(nn.Module):
    """Cross-attention from image tokens to the guidance embedding (Eq. 10's CFG control layer).
    The output projection starts at zero, so a student initialised from the teacher equals it."""

    def __init__(self, dim: int, cfg_dim: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(query_dim=dim, cross_attention_dim=cfg_dim, heads=heads, dim_head=max(1, dim // heads))
        nn.init.zeros_(self.attn.to_out[0].weight)
        nn.init.zeros_(self.attn.to_out[0].bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x (clips * frames, N, dim); emb (clips, tokens, cfg_dim), one per clip."""
        clips = emb.shape[0]
        # Every frame of a clip attends to the same few tokens, so the clip's frames form one
        # query sequence: the same result as a copy of emb per frame, without the copies.
        y = self.norm(x).reshape(clips, -1, x.shape[-1])
        return attend(self.attn, y, emb).reshape(x.shape)


class AudioCFGProcessor(nn.Module):
    """The block's cross-attention on audio tokens, then (if present) the CFG layer.

    Returns their summed residual, which the transformer block adds to its hidden states:
    x + audio(x) + cfg(x + audio(x))."""

    def __init__(self, ctx: ForwardContext, cfg_layer: CFGLayer | None = None):
        super().__init__()
        self.ctx = ctx
        self.cfg_layer = cfg_layer

    def __call__(self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        out = attend(attn, hidden_states, encoder_hidden_states)
        emb = self.ctx.cfg_emb
        if self.cfg_layer is not None and emb is not None:
            out = out + self.cfg_layer(hidden_states + out, emb.to(hidden_states.dtype))
        return out


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal encoding of (any shape) positions -> (..., dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    ang = positions.float()[..., None] * freq
    enc = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)
    return F.pad(enc, (0, dim - 2 * half))


class TemporalAttention(nn.Module):
    """Self-attention over the frames at each spatial position (AnimateDiff-style motion module),
    with sinusoidal frame positions. Zero output projection: starts as the identity."""

    def __init__(self, channels: int, heads: int, ctx: ForwardContext):
        super().__init__()
        self.ctx = ctx
        self.norm = nn.GroupNorm(min(32, channels), channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.attn = Attention(query_dim=channels, heads=heads, dim_head=max(1, channels // heads))
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.ctx.frames
        if f <= 1:
            return x
        bf, c, h, w = x.shape
        b = bf // f
        y = self.norm(x).view(b, f, c, h * w).permute(0, 3, 1, 2).reshape(b * h * w, f, c)
        y = self.proj_in(y) + sinusoid(torch.arange(f, device=x.device), c).to(y.dtype)
        y = self.proj_out(attend(self.attn, y, y))
        y = y.view(b, h * w, f, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)
        return x + y
