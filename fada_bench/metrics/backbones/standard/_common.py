"""Helpers shared by the ports of the standard backbones: loading a weight file by its key names,
turning uint8 frames into tensors, cutting clips.

A port loads the file the reference code loads, as it is: no converted copy. So a key that the
module does not have, or a tensor of the wrong shape, means the user has a different file than
the one the port follows; that is an `InputError` naming the file and the first few offending keys,
never a silent partial load (`load_state_dict(strict=False)` would score with random weights).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fada.data.io import check_frames
from fada.errors import InputError

# BatchNorm's step counter: absent from files saved before PyTorch 0.4.1 (the FID Inception, the
# 2017 3D-ResNets, SyncNet), present in newer ones, and never read in eval mode.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def read_state_dict(path: str | os.PathLike, *, inner_key: str | None = None,
                    strip_prefix: str | None = None) -> dict[str, torch.Tensor]:
    """Load a tensor dict with `torch.load(weights_only=True)` (never arbitrary pickles).

    `inner_key` picks the state dict out of a training checkpoint (the 3D-ResNets keep it under
    'state_dict'); `strip_prefix` removes a wrapper prefix such as DataParallel's 'module.'."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: weight file not found") from None
    except Exception as e:  # a TorchScript archive, a truncated download, a foreign pickle
        raise InputError(f"{path}: not a weights-only torch state dict ({type(e).__name__}: {e})") from None
    if inner_key is not None:
        if not isinstance(obj, Mapping) or inner_key not in obj:
            keys = list(obj)[:5] if isinstance(obj, Mapping) else type(obj).__name__
            raise InputError(f"{path}: expected a checkpoint with a '{inner_key}' entry, found {keys}")
        obj = obj[inner_key]
    if not isinstance(obj, Mapping):
        raise InputError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if strip_prefix and k.startswith(strip_prefix):
            k = k[len(strip_prefix):]
        out[k] = v
    return out


def load_exact(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | os.PathLike) -> nn.Module:
    """Copy `state` into `module`, requiring the same key names and shapes (BatchNorm's optional
    step counter aside). Raises `InputError` listing missing, unexpected and mis-shaped keys."""
    own = module.state_dict()
    optional = {k for k in own if k.endswith(_OPTIONAL_SUFFIXES)}
    missing = sorted(set(own) - set(state) - optional)
    unexpected = sorted(k for k in set(state) - set(own) if not k.endswith(_OPTIONAL_SUFFIXES))
    shapes = sorted(f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
                    for k in set(own) & set(state)
                    if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("wrong shapes", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise InputError(f"{source}: not the weight file this {type(module).__name__} port expects; "
                         + "; ".join(parts))
    filled = {k: state[k] for k in own if k in state}
    for k in optional - set(state):
        filled[k] = own[k]
    module.load_state_dict(filled, strict=True)
    return module.eval()


def frames_to_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 T x H x W x 3 -> float32 T x 3 x H x W in [0, 255] (checked by `check_frames`)."""
    check_frames(frames)
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()


def split_clips(frames: np.ndarray, clip_len: int, *, pad_last: bool, name: str) -> np.ndarray:
    """Non-overlapping clips, n x clip_len x H x W x 3. `pad_last` repeats the last frame to fill
    the tail clip (as DisCo's FVD-3DRN50 does); otherwise the tail is dropped. Too few frames for
    one clip is an `InputError`: a number from a padded stub would not be the metric."""
    check_frames(frames)
    t = frames.shape[0]
    if t < clip_len and not pad_last:
        raise InputError(f"{name}: {t} frames is shorter than one {clip_len}-frame clip")
    if pad_last and t % clip_len:
        frames = np.concatenate([frames, np.repeat(frames[-1:], clip_len - t % clip_len, axis=0)])
    n = frames.shape[0] // clip_len
    return frames[: n * clip_len].reshape(n, clip_len, *frames.shape[1:])


def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Apply `fn` to `x` in chunks along dim 0, without gradients."""
    with torch.inference_mode():
        return torch.cat([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def resize_short_side_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """N x C x H x W: bilinear resize (no antialias, align_corners=False) so the short side is
    `size`, then a centre crop to size x size. The FVD references (VideoGPT's and StyleGAN-V's
    `preprocess_single`) do exactly this; for square frames it is a plain resize."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    th, tw = (size, int(np.ceil(w * scale))) if h < w else (int(np.ceil(h * scale)), size)
    if (th, tw) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
    top, left = (th - size) // 2, (tw - size) // 2
    return x[..., top:top + size, left:left + size]


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck block, 2D or 3D (`dims`): 1x1 -> 3x3 (carries the stride) -> 1x1 x4,
    with a projection shortcut where the shape changes (type B). Its parameter names are those of
    torchvision's and of 3D-ResNets-PyTorch's blocks (conv1..3, bn1..3, downsample.0/1), so the
    reference weight files load into it unchanged."""

    def __init__(self, cin: int, planes: int, stride: int = 1, dims: int = 2):
        super().__init__()
        conv, bn = {2: (nn.Conv2d, nn.BatchNorm2d), 3: (nn.Conv3d, nn.BatchNorm3d)}[dims]
        self.conv1 = conv(cin, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = conv(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = bn(planes)
        self.conv3 = conv(planes, planes * 4, 1, bias=False)
        self.bn3 = bn(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(conv(cin, planes * 4, 1, stride=stride, bias=False), bn(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))
