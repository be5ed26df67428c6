"""The dual-UNet of FADA (paper Sec. 3.1): a ReferenceNet and the denoising UNet.

Both are SD-style `UNet2DConditionModel`s (SD 1.5 in the real world, a tiny one in the synthetic
world). The ReferenceNet runs once per clip on the VAE latents of the reference image and the
motion frames and records every spatial self-attention's input; the denoising UNet attends to
those tokens, to per-frame audio tokens, and over frames; the student adds the CFG layer.
"""
from __future__ import annotations

import os

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models import ModelMixin
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from ..cfg_modes import CFG_MODES, student_cfg_modes
from ..errors import InputError
from ..guidance import CFGScaleEmbedding, CFGTimeEmbedding, CFGTokenEmbedding
from .attention import AudioCFGProcessor, CFGLayer, ForwardContext, ReferenceRead, ReferenceWrite, TemporalAttention

def transformer_block_names(unet: UNet2DConditionModel) -> list[str]:
    return [n for n, m in unet.named_modules() if isinstance(m, BasicTransformerBlock)]


class ReferenceNet(ModelMixin, ConfigMixin):
    """Reads the reference image and motion frames; returns the tokens each layer shows the denoiser."""

    @register_to_config
    def __init__(self, unet_config: dict):
        super().__init__()
        self.unet = UNet2DConditionModel(**unet_config)
        self.ctx = ForwardContext(recording=True)
        for name in transformer_block_names(self.unet):
            self.unet.get_submodule(name).attn1.set_processor(ReferenceWrite(name, self.ctx))

    def forward(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """latents (N, R, C, h, w): R images per clip (reference, motion frames) -> bank of
        layer -> (N, R * tokens, channels)."""
        n, r = latents.shape[:2]
        x = latents.flatten(0, 1)
        t = torch.zeros(x.shape[0], device=x.device, dtype=torch.long)
        ctx = torch.zeros(x.shape[0], 1, self.unet.config.cross_attention_dim, device=x.device, dtype=x.dtype)
        self.ctx.bank = {}
        try:
            self.unet(x, t, encoder_hidden_states=ctx)
            return {k: v.reshape(n, r * v.shape[1], v.shape[2]) for k, v in self.ctx.bank.items()}
        finally:
            self.ctx.bank = {}


class AudioProjection(nn.Module):
    """Per-frame audio tokens from a window of neighbouring frames' features (several encoder
    layers each): (N, F + 2w, L, D) -> (N * F, tokens, cross_dim)."""

    def __init__(self, audio_dim: int, layers: int, window: int, tokens: int, cross_dim: int):
        super().__init__()
        self.window, self.tokens, self.cross_dim = window, tokens, cross_dim
        width = (2 * window + 1) * layers * audio_dim
        self.net = nn.Sequential(nn.Linear(width, cross_dim), nn.SiLU(), nn.Linear(cross_dim, tokens * cross_dim))
        self.norm = nn.LayerNorm(cross_dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        n, fw = feats.shape[:2]
        f = fw - 2 * self.window
        win = feats.unfold(1, 2 * self.window + 1, 1)          # (N, F, L, D, 2w+1)
        win = win.reshape(n * f, -1)
        return self.norm(self.net(win).view(n * f, self.tokens, self.cross_dim))


class FadaDenoiser(ModelMixin, ConfigMixin):
    """The denoising UNet with reference, audio, temporal attention and (student) CFG conditioning.

    Every forward counts its evaluations in `self.nfe`: one per clip-branch in the batch
    (a batched call carrying the three CFG branches of one clip counts three)."""

    @register_to_config
    def __init__(self, unet_config: dict, audio_dim: int, audio_layers: int = 1, audio_window: int = 2,
                 audio_tokens_per_frame: int = 1, temporal_heads: int = 8, cfg_mode: str = "none",
                 cfg_tokens: int = 4, prediction_type: str = "epsilon"):
        super().__init__()
        if cfg_mode != "none" and cfg_mode not in student_cfg_modes():
            raise InputError(f"unknown denoiser cfg_mode {cfg_mode!r}; known: none, {', '.join(student_cfg_modes())}")
        self.unet = UNet2DConditionModel(**unet_config)
        cross = self.unet.config.cross_attention_dim
        self.ctx = ForwardContext()
        self.nfe = 0
        self.audio_proj = AudioProjection(audio_dim, audio_layers, audio_window, audio_tokens_per_frame, cross)
        self.with_cfg_layer = with_layer = cfg_mode != "none" and CFG_MODES.get(cfg_mode).cfg_layer
        for name in transformer_block_names(self.unet):
            block = self.unet.get_submodule(name)
            block.attn1.set_processor(ReferenceRead(name, self.ctx))
            dim = block.attn1.to_q.in_features
            layer = CFGLayer(dim, cross, block.attn1.heads) if with_layer else None
            block.attn2.set_processor(AudioCFGProcessor(self.ctx, layer))
        for name, mod in self.unet.named_modules():
            if isinstance(mod, Transformer2DModel):
                mod.temporal = TemporalAttention(mod.config.in_channels, temporal_heads, self.ctx)
                mod.register_forward_hook(_temporal_hook)
        if cfg_mode == "layer_tokens":
            self.cfg_embed = CFGTokenEmbedding(cfg_tokens, cross)
        elif cfg_mode == "layer":
            self.cfg_embed = CFGScaleEmbedding(cfg_tokens, cross)
        elif cfg_mode == "time_embed":
            # The UNet adds `class_embedding(class_labels)` to its timestep embedding.
            self.unet.class_embedding = CFGTimeEmbedding(self.unet.time_embedding.linear_2.out_features)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, audio: torch.Tensor,
                bank: dict[str, torch.Tensor] | None, cfg_scales: torch.Tensor | None = None) -> torch.Tensor:
        """sample (N, F, C, h, w) noisy latents of N clips; timestep (N,) or scalar; audio
        (N, F + 2w, L, D) encoder features (zeros drop the audio); bank from the ReferenceNet
        (zeros drop the reference; None means no reference attention); cfg_scales (N, 2) =
        (cfg_a, cfg_r), used by the student's CFG conditioning. Returns (N, F, C, h, w)."""
        n, f = sample.shape[:2]
        self.nfe += n
        t = torch.as_tensor(timestep, device=sample.device)
        t = (t.expand(n) if t.ndim == 0 else t).repeat_interleave(f)
        tokens = self.audio_proj(audio.to(sample.dtype))
        mode = self.config.cfg_mode
        if mode != "none" and cfg_scales is None:
            raise InputError(f"this denoiser is conditioned on CFG scales (cfg_mode={mode!r}): pass cfg_scales")
        self.ctx.frames = f
        self.ctx.bank = bank or {}
        self.ctx.cfg_emb = self.cfg_embed(cfg_scales.to(sample.dtype)) if self.with_cfg_layer else None
        class_labels = cfg_scales.repeat_interleave(f, dim=0).to(sample.dtype) if mode == "time_embed" else None
        try:
            out = self.unet(sample.flatten(0, 1), t, encoder_hidden_states=tokens, class_labels=class_labels).sample
        finally:
            self.ctx.bank, self.ctx.cfg_emb, self.ctx.frames = {}, None, 1
        return out.view(n, f, *out.shape[1:])

    @classmethod
    def student_from_teacher(cls, teacher: "FadaDenoiser", cfg_mode: str) -> "FadaDenoiser":
        """A student with CFG conditioning, initialised from the teacher: every teacher weight is
        copied and the new layers start as the identity, so its output equals the teacher's."""
        cfg = dict(teacher.config)
        cfg["cfg_mode"] = cfg_mode
        student = cls(**{k: v for k, v in cfg.items() if not k.startswith("_")})
        missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
        if unexpected:
            raise RuntimeError(f"teacher weights the student does not have: {unexpected[:5]}")
        return student


def _temporal_hook(module, args, output):
    if isinstance(output, tuple):
        return (module.temporal(output[0]),) + tuple(output[1:])
    output.sample = module.temporal(output.sample)
    return output


def load_sd15_unet_weights(model: nn.Module, sd15_path: str | os.PathLike) -> None:
    """Copy a local diffusers SD 1.5 folder's UNet weights into `model.unet` (ReferenceNet or
    denoiser); the layers FADA adds keep their initialisation."""
    from pathlib import Path

    path = Path(sd15_path)
    unet_dir = path / "unet" if (path / "unet").is_dir() else path
    if not (unet_dir / "config.json").is_file():
        raise InputError(f"no diffusers UNet in {path} (looked for {unet_dir / 'config.json'}); "
                         "give the local folder of an SD 1.5 checkpoint in diffusers format "
                         "(the one with unet/, vae/ and text_encoder/)")
    base = UNet2DConditionModel.from_pretrained(unet_dir, local_files_only=True)
    missing, unexpected = model.unet.load_state_dict(base.state_dict(), strict=False)
    if unexpected:
        raise InputError(f"{unet_dir}: weights that do not fit this UNet: {unexpected[:5]}")
    added = ("processor.", "temporal.", "class_embedding.")
    not_added = [k for k in missing if not any(a in k for a in added)]
    if not_added:
        raise InputError(f"{unet_dir}: the checkpoint lacks UNet weights {not_added[:5]}")
