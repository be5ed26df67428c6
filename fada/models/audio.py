"""Audio encoders: 16 kHz mono waveforms -> per-video-frame features (B, T, L, D).

Both worlds share the interface `encoder(audio (B, S), n_frames) -> (B, n_frames, layers, dim)`:
- `Wav2Vec2AudioEncoder` (real world): transformers' Wav2Vec2Model from a local folder the user
  gives; the hidden states of several layers, resampled from 50 Hz to the video frame rate.
- `MelAudioEncoder` (synthetic world): log-mel spectrogram and a small 1-D conv net, trained with
  the generator.
The encoder runs once per clip (or once per video), never per denoising step.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models import ModelMixin
from torch import nn

from ..errors import InputError


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular filters on the HTK mel scale: (n_mels, n_fft // 2 + 1)."""
    f_max = f_max or sample_rate / 2

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return torch.from_numpy(fb.astype(np.float32))


def resample_frames(feats: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B, T_in, ...) -> (B, n_frames, ...) by linear interpolation in time."""
    b, t = feats.shape[:2]
    rest = feats.shape[2:]
    x = feats.reshape(b, t, -1).transpose(1, 2)
    x = F.interpolate(x, size=n_frames, mode="linear", align_corners=False)
    return x.transpose(1, 2).reshape(b, n_frames, *rest)


class MelAudioEncoder(ModelMixin, ConfigMixin):
    """Log-mel (25 ms window, 10 ms hop) -> 1-D conv net -> one feature vector per video frame."""

    @register_to_config
    def __init__(self, dim: int = 64, n_mels: int = 40, sample_rate: int = 16000, fps: float = 25.0):
        super().__init__()
        self.n_fft, self.hop = 400, 160
        self.register_buffer("fb", mel_filterbank(n_mels, self.n_fft, sample_rate), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.net = nn.Sequential(
            nn.Conv1d(n_mels, dim, 5, padding=2), nn.SiLU(),
            nn.Conv1d(dim, dim, 5, padding=2), nn.SiLU(),
            nn.Conv1d(dim, dim, 3, padding=1),
        )

    def forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        # The spectrum in float32 whatever the weights' dtype (bf16 has too few bits for log-mel).
        spec = torch.stft(audio.float(), self.n_fft, self.hop, window=self.window.float(), return_complex=True).abs() ** 2
        mel = torch.log(torch.einsum("mf,bft->bmt", self.fb.float(), spec) + 1e-6)
        mel = (mel + 6.0) / 4.0  # roughly unit scale for speech at -6 dBFS
        h = self.net(mel.to(self.fb.dtype)).transpose(1, 2)  # (B, T_100Hz, dim)
        return resample_frames(h, n_frames)[:, :, None, :]  # (B, n_frames, 1, dim)


class Wav2Vec2AudioEncoder(nn.Module):
    """wav2vec 2.0 features from a local folder (never a hub id): hidden states of `layers` layers."""

    def __init__(self, path: str | os.PathLike | None, layers: int = 12, *, model=None):
        super().__init__()
        from transformers import Wav2Vec2Model

        if model is None:
            path = Path(path)
            if not (path / "config.json").is_file():
                raise InputError(f"no wav2vec2 model in {path} (looked for {path / 'config.json'}); give the local "
                                 "folder of a transformers Wav2Vec2 checkpoint (for example wav2vec2-base-960h)")
            model = Wav2Vec2Model.from_pretrained(path, local_files_only=True)
        self.model = model
        self.model.eval().requires_grad_(False)
        self.layers = layers

    @classmethod
    def untrained(cls, layers: int = 12) -> "Wav2Vec2AudioEncoder":
        """wav2vec2-base's geometry (transformers' default config) with random weights, for speed
        measurements that must not need a download."""
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        return cls(None, layers, model=Wav2Vec2Model(Wav2Vec2Config()))

    @torch.no_grad()
    def forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        x = (audio - audio.mean(-1, keepdim=True)) / (audio.std(-1, keepdim=True) + 1e-7)
        out = self.model(x.to(self.model.dtype), output_hidden_states=True)
        hs = torch.stack(out.hidden_states[1:self.layers + 1], dim=2)   # (B, T_50Hz, L, 768)
        return resample_frames(hs, n_frames)
