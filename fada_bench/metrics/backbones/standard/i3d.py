"""I3D (Inception-v1 inflated to 3D, Kinetics-400) for FVD, two ways the field loads it.

1. `i3d` (ours, the port): the state dict `i3d_pretrained_400.pt` that VideoGPT and cd-fvd load
   into piergiaj's `InceptionI3d` (cd-fvd: `cdfvd/third_party/i3d/pytorch_i3d.py`, loaded in
   `utils.load_i3d_model`; VideoGPT: `videogpt/fvd/pytorch_i3d.py`). Our module reproduces that
   network's key names (`Conv3d_1a_7x7.conv3d.weight`, `Mixed_4b.b1b.bn.running_var`,
   `logits.conv3d.bias`) and its TF-style SAME padding, computed from the input size.
2. `i3d_tfhub`: StyleGAN-V's TorchScript export `i3d_torchscript.pt` of the tf.hub I3D that the
   original TF FVD uses (its weights differ from the file above), run through `torch.jit.load`.
   StyleGAN-V calls it with rescale/resize inside; we call it with `rescale=False, resize=False`
   on our own preprocessed input, as `common_metrics_on_video_quality`'s styleganv path does.

Of the code we read, recent video-generation evaluations mostly use the TorchScript file
(StyleGAN-V and the scripts derived from it); cd-fvd, VideoGPT and DisCo use the state dict. The two give different
numbers, so they are two backbone names, never one.

Features: the 400-d logits, before softmax, as the TF FVD reference uses them ("logits" layer:
global average pool over the last 2 x 7 x 7, the 1x1x1 logits conv, then the mean over time).

Preprocessing, both files: each 16-frame clip, resize so the short side is 224 (bilinear), centre
crop 224 x 224, scale [0, 255] to [-1, 1] (VideoGPT's/StyleGAN-V's `preprocess_single`; cd-fvd's
`preprocess_i3d` resizes straight to 224 x 224, the same for square frames). Clips are
consecutive and non-overlapping; a tail shorter than 16 frames is dropped.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fada.errors import InputError

from ....weight_files import standard as weights_registry
from ._common import (batched, frames_to_float, load_exact, read_state_dict,
                      resize_short_side_center_crop, split_clips)

CLIP_LEN = 16
SIZE = 224


def _same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """TF 'SAME' padding for N x C x T x H x W, extra pixel at the end (piergiaj's compute_pad)."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """Conv3d (SAME padding) + BatchNorm (eps 1e-5, as in the VideoGPT/cd-fvd copy) + ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), *,
                 bn: bool = True, relu: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, stride=self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-5) if bn else None

    def forward(self, x):
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


def _max_pool_same(x, kernel, stride):
    # zero padding before the max, as MaxPool3dSamePadding does (inputs are post-ReLU, >= 0)
    return F.max_pool3d(_same_pad(x, kernel, stride), kernel, stride)


class InceptionBlock3D(nn.Module):
    """Four branches: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1x1.
    `c` lists the six widths in the reference order (b0, b1a, b1b, b2a, b2b, b3b)."""

    def __init__(self, cin: int, c: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a = Unit3D(cin, c[1])
        self.b1b = Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a = Unit3D(cin, c[3])
        self.b2b = Unit3D(c[3], c[4], (3, 3, 3))
        self.b3b = Unit3D(cin, c[5])

    def forward(self, x):
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], 1)


# (name, input channels, branch widths): the Inception-v1 table of the I3D paper.
_BLOCKS = [
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
]
# max pools that run before a block: (kernel, stride)
_POOL_BEFORE = {"Mixed_3b": ((1, 3, 3), (1, 2, 2)), "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
                "Mixed_5b": ((2, 2, 2), (2, 2, 2))}


class InceptionI3D(nn.Module):
    """`forward`: N x 3 x T x 224 x 224 in [-1, 1] -> N x 400 logits (T = 16 gives one time step
    after the final 2 x 7 x 7 average pool)."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        for name, cin, widths in _BLOCKS:
            setattr(self, name, InceptionBlock3D(cin, widths))
        self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv3d_1a_7x7(x)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        for name, _, _ in _BLOCKS:
            if name in _POOL_BEFORE:
                x = _max_pool_same(x, *_POOL_BEFORE[name])
            x = getattr(self, name)(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)        # 'Logits' pool; dropout is off in eval
        x = self.logits(x)                              # N x 400 x T' x 1 x 1
        return x.squeeze(4).squeeze(3).mean(dim=2)


def load_i3d(path: str | os.PathLike) -> InceptionI3D:
    """Build the network and load `i3d_pretrained_400.pt` with exact key matching."""
    return load_exact(InceptionI3D(), read_state_dict(path), path)


def preprocess_clips(clips: np.ndarray) -> torch.Tensor:
    """n x 16 x H x W x 3 uint8 -> n x 3 x 16 x 224 x 224 in [-1, 1]."""
    n, t = clips.shape[:2]
    x = frames_to_float(clips.reshape(n * t, *clips.shape[2:]))
    x = resize_short_side_center_crop(x, SIZE) * (2.0 / 255.0) - 1.0
    return x.reshape(n, t, 3, SIZE, SIZE).transpose(1, 2)


class I3DEmbedder:
    """ClipEmbedder for `fvd[i3d]` (state dict) or `fvd[i3d_tfhub]` (TorchScript): 400-d logits
    per non-overlapping 16-frame clip.

    `weights`: path to the file (or a folder holding it); None looks it up in the registry.
    `torchscript=True` selects StyleGAN-V's `i3d_torchscript.pt` instead of the state dict."""
    clip_len = CLIP_LEN

    def __init__(self, weights: str | os.PathLike | None = None, *, torchscript: bool = False,
                 device: str = "cpu", batch_size: int = 4):
        self.name = "i3d_tfhub" if torchscript else "i3d"
        path = weights_registry.find("i3d_torchscript" if torchscript else "i3d_400", weights)
        if torchscript:
            try:
                self.net = torch.jit.load(str(path), map_location="cpu").eval()
            except Exception as e:
                raise InputError(f"{path}: not a TorchScript archive ({type(e).__name__}: {e})") from None
            net = self.net
            self._forward = lambda x: net(x, rescale=False, resize=False, return_features=True)
        else:
            self.net = load_i3d(path)
            self._forward = self.net
        self.net.to(device)
        self.device, self.batch_size = device, batch_size

    def embed_clips(self, frames: np.ndarray) -> np.ndarray:
        x = preprocess_clips(split_clips(frames, CLIP_LEN, pad_last=False, name=self.name))
        feats = batched(lambda b: self._forward(b.to(self.device)).cpu(), x, self.batch_size)
        return feats.double().numpy()
