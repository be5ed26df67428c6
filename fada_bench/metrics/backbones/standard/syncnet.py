"""SyncNet v2 for Sync-D / Sync-C (LSE-D / LSE-C): our port of syncnet_python's network
(`SyncNetModel.py`, class `S`), loading `syncnet_v2.model` by its key names, with the inputs that
`SyncNetInstance.evaluate` builds.

Network (key names are the file's: `netcnnaud.0.weight`, `netcnnlip.18.weight`,
`netfcaud.3.bias`, ...; the nn.Sequential indices count the ReLU and pooling layers too, so the
layer lists below keep the reference's order exactly):
- audio: 1 x 13 x 20 MFCC window -> 5 conv/BN/ReLU stages -> 512 -> fc 512 -> 1024;
- video: 3 x 5 x 224 x 224 -> Conv3d (5, 7, 7) over the 5 frames, then 2D-like (1, k, k) stages ->
  512 -> fc 512 -> 1024.

Video input, as `evaluate` reads it: syncnet_python first runs its own face detector and writes
224 x 224 face crops (run_pipeline.py `crop_video`: the box widened and extended downwards, so
the mouth is in the lower half), then feeds whole crops, BGR (cv2.imread order), 0-255 floats
without normalisation, as windows of 5 consecutive frames (layout N x 3 x 5 x 224 x 224:
channels, then time). We take frames that are already face crops (our prepared data are: see
fada/data preparation), resize them to 224 x 224 with cv2's bilinear resize (what `crop_video`
uses) and reverse RGB to BGR. The crop geometry is the data preparation's, not `crop_video`'s;
that difference, and syncnet_python's JPEG round trip, are the known sources of deviation.

Audio input, as `evaluate` computes it: 16 kHz PCM as int16 values (scipy's wavfile), MFCC with
python_speech_features' defaults (13 coefficients, 25 ms windows every 10 ms, so 100 frames a
second, log energy as the first coefficient), and for video frame t the 20 MFCC frames
4t .. 4t+19 (0.2 s: 4 MFCC frames per 25 fps video frame).

Window counts: we return T - 4 rows for a T-frame video (every full 5-frame window). For audio
that is exactly T video frames long, the last of them needs one MFCC frame past the end; we pad
the waveform with zeros, which leaves every earlier MFCC frame unchanged. syncnet_python stops
one window earlier (`lastframe = min_length - 5`), so its rows equal our rows [:T - 5].
"""
from __future__ import annotations

import os

import cv2
import numpy as np
import python_speech_features
import torch
from torch import nn

from fada.data.io import FPS, SAMPLE_RATE, check_frames
from fada.errors import InputError

from ....weight_files import standard as weights_registry
from ._common import batched, load_exact, read_state_dict

WINDOW = 5                 # video frames per window
MFCC_PER_FRAME = 4         # 100 Hz MFCC / 25 fps video
MFCC_WINDOW = 20           # 0.2 s
SIZE = 224


def _conv_bn_relu(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU()]


class SyncNetV2(nn.Module):
    """`embed_audio`: N x 1 x 13 x 20 -> N x 1024; `embed_lip`: N x 3 x 5 x 224 x 224 -> N x 1024."""

    def __init__(self, dim: int = 1024):
        super().__init__()
        c2, bn2 = nn.Conv2d, nn.BatchNorm2d
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu(c2(1, 64, 3, padding=1), bn2(64)), nn.MaxPool2d(1, 1),             # 0-3
            *_conv_bn_relu(c2(64, 192, 3, padding=1), bn2(192)), nn.MaxPool2d(3, (1, 2)),     # 4-7
            *_conv_bn_relu(c2(192, 384, 3, padding=1), bn2(384)),                             # 8-10
            *_conv_bn_relu(c2(384, 256, 3, padding=1), bn2(256)),                             # 11-13
            *_conv_bn_relu(c2(256, 256, 3, padding=1), bn2(256)), nn.MaxPool2d(3, 2),         # 14-17
            *_conv_bn_relu(c2(256, 512, (5, 4)), bn2(512)),                                   # 18-20
        )
        c3, bn3 = nn.Conv3d, nn.BatchNorm3d
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu(c3(3, 96, (5, 7, 7), stride=(1, 2, 2)), bn3(96)),                  # 0-2
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),                                               # 3
            *_conv_bn_relu(c3(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), bn3(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), padding=(0, 1, 1)),                            # 7
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn3(256)),             # 8-10
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn3(256)),             # 11-13
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn3(256)),             # 14-16
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),                                               # 17
            *_conv_bn_relu(c3(256, 512, (1, 6, 6)), bn3(512)),                                # 18-20
        )
        self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))
        self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))

    def embed_audio(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def embed_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | os.PathLike) -> SyncNetV2:
    """Build the network and load `syncnet_v2.model` with exact key matching."""
    return load_exact(SyncNetV2(), read_state_dict(path), path)


def to_int16_scale(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> the int16 sample values syncnet_python reads from its wav
    (ffmpeg's float->s16 conversion: round(x * 32768), clipped). The scale matters: MFCC's first
    coefficient is the log frame energy."""
    return np.clip(np.rint(np.asarray(audio, np.float64) * 32768.0), -32768, 32767)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """13 x n MFCC as `SyncNetInstance.evaluate` computes it (python_speech_features defaults)."""
    return python_speech_features.mfcc(to_int16_scale(audio), sample_rate).T


def audio_windows(audio: np.ndarray, n_frames: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_frames - 4) x 1 x 13 x 20 MFCC windows, one per video frame start."""
    if sample_rate != SAMPLE_RATE:
        raise InputError(f"syncnet_v2 needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    if n_frames < WINDOW:
        raise InputError(f"syncnet_v2: {n_frames} frames is shorter than one {WINDOW}-frame window")
    per_frame = SAMPLE_RATE // FPS
    need = n_frames * per_frame
    if len(audio) < need - per_frame:
        raise InputError(f"syncnet_v2: audio of {len(audio) / SAMPLE_RATE:.3f} s is shorter than "
                         f"{n_frames} frames ({n_frames / FPS:.3f} s)")
    # The last window reaches one MFCC frame (10 ms) past the video's end: use the audio there if
    # it exists, else zeros, which change no earlier MFCC frame.
    a = np.asarray(audio, np.float64)[:need + per_frame]
    padded = np.concatenate([a, np.zeros(need + per_frame - len(a))])
    cc = mfcc(padded)
    starts = np.arange(n_frames - WINDOW + 1) * MFCC_PER_FRAME
    return np.stack([cc[:, s:s + MFCC_WINDOW] for s in starts])[:, None].astype(np.float32)


def video_tensor(frames: np.ndarray) -> torch.Tensor:
    """T x H x W x 3 RGB uint8 face crops -> 3 x T x 224 x 224 BGR floats in [0, 255]."""
    check_frames(frames)
    if frames.shape[0] < WINDOW:
        raise InputError(f"syncnet_v2: {frames.shape[0]} frames is shorter than one {WINDOW}-frame window")
    if frames.shape[1:3] != (SIZE, SIZE):
        frames = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for f in frames])
    bgr = np.ascontiguousarray(frames[..., ::-1])
    return torch.from_numpy(bgr).float().permute(3, 0, 1, 2)


class SyncNetBackbone:
    """SyncBackbone `syncnet_v2`: 1024-d embeddings of 5-frame face windows and 0.2 s MFCC windows."""
    name = "syncnet_v2"

    def __init__(self, weights: str | os.PathLike | None = None, *, device: str = "cpu", batch_size: int = 20):
        self.net = load_syncnet(weights_registry.find("syncnet_v2", weights)).to(device)
        self.device, self.batch_size = device, batch_size

    def embed_video(self, frames: np.ndarray) -> np.ndarray:
        v = video_tensor(frames)
        starts = torch.arange(v.shape[1] - WINDOW + 1)

        def run(idx: torch.Tensor) -> torch.Tensor:
            batch = torch.stack([v[:, int(s):int(s) + WINDOW] for s in idx])
            return self.net.embed_lip(batch.to(self.device)).cpu()

        return batched(run, starts, self.batch_size).double().numpy()

    def embed_audio(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        x = torch.from_numpy(audio_windows(audio, n_frames))
        return batched(lambda b: self.net.embed_audio(b.to(self.device)).cpu(), x, self.batch_size).double().numpy()
