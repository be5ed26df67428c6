"""3D-ResNet-50 (Kinetics) for FVD-R, the paper's "FVD with 3D ResNet".

Which network: the talking-head and human-animation papers that report an FVD with a 3D ResNet
use DisCo's "FVD-3DRN50" (DisCo `tool/metrics/features.py`, `build_feature_extractor`): Kensho
Hara's 3D-ResNet-50 with shortcut B, trained on Kinetics-400 (`resnet-50-kinetics.pth`, the
2017 release of 3D-ResNets-PyTorch), the classifier dropped (`last_fc=False`), so a clip's
feature is the 2048-d global average pool. That is the default here (`resnet3d50`).

Its preprocessing (DisCo `tool/metrics/utils.py`, `DatasetFVDVideoResize`): every frame resized
to 112 x 112 with PIL bicubic (per channel, in float), the Kinetics pixel mean [114.7748, 107.7354, 99.4750] subtracted
on the 0-255 scale (no division), the video cut into 16-frame clips with the last frame repeated
to fill the tail clip. DisCo then averages a video's clip features into one row
(`compute_3d_video_prediction`); we return the clip rows and leave that to the metric.

The same module also loads the newer release `r3d50_K_200ep.pth` (Kinetics-700, 700 classes;
3D-ResNets-PyTorch `models/resnet.py`: identical key names for a 16-frame input), as
`resnet3d50_k700`, with that repository's normalisation (`mean.py`: Kinetics mean and std on
the [0, 1] scale).

Key names follow Hara's `models/resnet.py`: `conv1.weight`, `bn1.*`,
`layer{1..4}.{i}.conv{1,2,3}.weight`, `.bn{1,2,3}.*`, `.downsample.0.weight` / `.downsample.1.*`,
`fc.weight`; the files keep them under 'state_dict' with DataParallel's 'module.' prefix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ....weight_files import standard as weights_registry
from ._common import Bottleneck, batched, load_exact, read_state_dict, split_clips

CLIP_LEN = 16


@dataclass(frozen=True)
class Preset:
    weights: str              # weights-registry entry
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]   # on the 0-255 scale; ones = no division


PRESETS = {
    "resnet3d50": Preset("resnet3d50_kinetics400", 400, (114.7748, 107.7354, 99.4750), (1.0, 1.0, 1.0)),
    "resnet3d50_k700": Preset("resnet3d50_kinetics700", 700,
                              tuple(255 * m for m in (0.4345, 0.4051, 0.3775)),
                              tuple(255 * s for s in (0.2768, 0.2713, 0.2737))),
}
SIZE = 112



class ResNet3D50(nn.Module):
    """`forward`: N x 3 x 16 x 112 x 112 (normalised) -> N x 2048 pooled features."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        cin = 64
        for i, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
            layer = []
            for j in range(blocks):
                layer.append(Bottleneck(cin, planes, stride if j == 0 else 1, dims=3))
                cin = planes * 4
            setattr(self, f"layer{i}", nn.Sequential(*layer))
        self.fc = nn.Linear(2048, num_classes)     # in the file; FVD-R uses the pool before it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool3d(x, 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        # Hara's AvgPool3d((ceil(16/16), ceil(112/32), ...)) covers the whole 1 x 4 x 4 map here
        return x.mean(dim=(2, 3, 4))


def load_resnet3d50(path: str | os.PathLike, num_classes: int = 400) -> ResNet3D50:
    """Build the network and load a 3D-ResNets-PyTorch checkpoint with exact key matching."""
    state = read_state_dict(path, inner_key="state_dict", strip_prefix="module.")
    return load_exact(ResNet3D50(num_classes), state, path)


def _resize_bicubic_pil(frames: np.ndarray, size: int) -> np.ndarray:
    # DisCo resizes with its copy of clean-fid's make_resizer("PIL", False, "bicubic"): each
    # channel as a float32 ('F' mode) PIL image, bicubic, no quantisation and no clipping.
    out = np.empty((len(frames), size, size, 3), np.float32)
    for i, f in enumerate(frames):
        for c in range(3):
            ch = Image.fromarray(f[:, :, c].astype(np.float32))   # float32 -> mode "F"
            out[i, :, :, c] = np.asarray(ch.resize((size, size), resample=Image.BICUBIC))
    return out


class ResNet3DEmbedder:
    """ClipEmbedder for `fvd_r[resnet3d50]`: 2048-d features per 16-frame clip (the tail clip is
    padded with the last frame, as DisCo does)."""
    clip_len = CLIP_LEN

    def __init__(self, weights: str | os.PathLike | None = None, *, preset: str = "resnet3d50",
                 device: str = "cpu", batch_size: int = 4):
        self.name, self.preset = preset, PRESETS[preset]
        path = weights_registry.find(self.preset.weights, weights)
        self.net = load_resnet3d50(path, self.preset.num_classes).to(device)
        self.device, self.batch_size = device, batch_size

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        clips = split_clips(frames, CLIP_LEN, pad_last=True, name=self.name)
        n = clips.shape[0]
        small = _resize_bicubic_pil(clips.reshape(-1, *clips.shape[2:]), SIZE)
        x = torch.from_numpy(small).reshape(n, CLIP_LEN, SIZE, SIZE, 3)
        x = (x - torch.tensor(self.preset.mean)) / torch.tensor(self.preset.std)
        return x.permute(0, 4, 1, 2, 3).contiguous()

    def embed_clips(self, frames: np.ndarray) -> np.ndarray:
        x = self.preprocess(frames)
        feats = batched(lambda b: self.net(b.to(self.device)).cpu(), x, self.batch_size)
        return feats.double().numpy()
