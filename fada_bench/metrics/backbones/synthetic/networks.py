"""The synthetic world's backbone networks (torch modules), built by name and loaded from their
verified weights (`fada_bench.weight_files.synthetic`)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fada.data.synthetic.params import EXPRESSION_DIM, POSE_DIM

from ....weight_files.synthetic import REBUILD_COMMAND, registry, weights_path
from ....weight_files.standard import WeightsError
from .preprocessing import CLIP_LEN, DEGRADATIONS, SYNC_WINDOW, VISIBLE_IDENTITY


def _conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2 if k % 2 else (k - s) // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InverseRendererNet(nn.Module):
    """Frame (`input_size` px, 64 or 128) -> identity (visible fields), expression, pose and
    degradation, each standardised by the training set's statistics (buffers `target_mean`,
    `target_std`). At 128 px a stride-2 stem brings the frame to the 64 px trunk: the mouth's
    width and the brows move by a pixel or two, which 64 px barely resolves.

    The degradation head (blur, noise and JPEG strength) is there so that the penultimate
    features, which FID[synthetic] uses, change with image quality as Inception's do: trained on
    the parameters alone, the network would learn to ignore blur and noise."""
    n_identity, n_expression, n_pose, n_degradation = len(VISIBLE_IDENTITY), EXPRESSION_DIM, POSE_DIM, len(DEGRADATIONS)
    n_out = n_identity + n_expression + n_pose + n_degradation
    n_features = 256

    def __init__(self, input_size: int = 64):
        super().__init__()
        if input_size not in (64, 128):
            raise ValueError(f"input_size must be 64 or 128, got {input_size}")
        self.input_size = input_size
        stem = [_conv(3, 24, 4, 2), _conv(24, 32, 3, 2)] if input_size == 128 else [_conv(3, 32, 4, 2)]
        self.trunk = nn.Sequential(
            *stem,                                   # 32 px
            _conv(32, 64, 3, 2), _conv(64, 64),      # 16 px
            _conv(64, 128, 3, 2), _conv(128, 128),   # 8 px
            _conv(128, 256, 3, 2),                   # 4 px
            nn.Flatten(),                            # where things are matters (pose): no pooling
            nn.Linear(256 * 16, self.n_features), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.n_features, self.n_out)
        self.register_buffer("target_mean", torch.zeros(self.n_out))
        self.register_buffer("target_std", torch.ones(self.n_out))

    def slices(self) -> dict[str, slice]:
        a = self.n_identity
        b = a + self.n_expression
        c = b + self.n_pose
        return {"identity": slice(0, a), "expression": slice(a, b), "pose": slice(b, c),
                "degradation": slice(c, self.n_out)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.trunk(x)
        return f, self.head(f)


class VideoFeatureNet(nn.Module):
    """16-frame clip -> standardised clip targets (expression and pose at four frames, their
    motion, degradation, background instability, colours); the 128-d penultimate features are
    FVD[synthetic]'s.

    Each frame goes through a frame encoder, a frozen copy of the inverse renderer's trunk that
    ships inside this network's file, then temporal convolutions over the 16 frame features see
    how they change. (A small 3D network trained from scratch here learned colours and head pose
    but not the mouth or image quality within the CPU budget: the per-frame encoder has them.)"""
    n_features = 128

    def __init__(self, n_out: int, input_size: int = 128):
        super().__init__()
        self.input_size = input_size
        self.frames = InverseRendererNet(input_size).trunk
        self.frames.requires_grad_(False)
        w, c = InverseRendererNet.n_features, 192

        def tconv(cin, cout, s):
            return [nn.Conv1d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]

        self.temporal = nn.Sequential(
            *tconv(w, c, 1), *tconv(c, c, 2), *tconv(c, c, 2),      # 16 -> 8 -> 4 steps
            nn.Flatten(), nn.Linear(c * CLIP_LEN // 4, self.n_features), nn.ReLU(inplace=True))
        self.head = nn.Linear(self.n_features, n_out)
        self.register_buffer("target_mean", torch.zeros(n_out))
        self.register_buffer("target_std", torch.ones(n_out))

    def train(self, mode: bool = True):
        super().train(mode)
        self.frames.eval()      # frozen: its BatchNorm statistics are the inverse renderer's
        return self

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S frames -> N x 256."""
        return self.frames(x)

    def clip_forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x 16 x 256 frame features -> (N x 128 clip features, N x n_out outputs)."""
        z = self.temporal(f.transpose(1, 2))
        return z, self.head(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x 16 x 3 x S x S clips -> (clip features, outputs)."""
        n, t = x.shape[:2]
        return self.clip_forward(self.frame_features(x.flatten(0, 1)).reshape(n, t, -1))


class SyncNetSmall(nn.Module):
    """Two towers into one space: 5 grey mouth crops stacked as channels (SyncNet's early fusion)
    and 0.2 s of MFCCs (1 x 13 x 20, standardised per coefficient by the training set's
    statistics). Embeddings are unit vectors, so distances lie in [0, 2]."""
    dim = 128

    def __init__(self):
        super().__init__()
        self.lip = nn.Sequential(
            _conv(SYNC_WINDOW, 48), _conv(48, 64, 3, 2),     # 16 x 24
            _conv(64, 96, 3, 2), _conv(96, 128, 3, 2),       # 4 x 6
            nn.Flatten(), nn.Linear(128 * 4 * 6, 256), nn.ReLU(inplace=True), nn.Linear(256, self.dim))
        self.aud = nn.Sequential(
            _conv(1, 32), _conv(32, 64, 3, 2),               # 7 x 10
            _conv(64, 96, 3, 2),                             # 4 x 5
            nn.Flatten(), nn.Linear(96 * 4 * 5, 256), nn.ReLU(inplace=True), nn.Linear(256, self.dim))
        self.register_buffer("mfcc_mean", torch.zeros(13))
        self.register_buffer("mfcc_std", torch.ones(13))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.lip(x), dim=1)

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mfcc_mean[None, None, :, None]) / self.mfcc_std[None, None, :, None]
        return nn.functional.normalize(self.aud(x), dim=1)


class QualityNet(nn.Module):
    """128 px frame -> quality on the 1-5 scale. Mean and standard deviation pooling of the last
    feature map: degradations are spread over the image, not located."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(_conv(3, 24, 3, 2), _conv(24, 32, 3, 2), _conv(32, 64, 3, 2), _conv(64, 96, 3, 2))
        self.head = nn.Sequential(nn.Linear(192, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.trunk(x).flatten(2)
        z = self.head(torch.cat([f.mean(-1), f.std(-1)], dim=1)).squeeze(1)
        return 1.0 + 4.0 * torch.sigmoid(z)


VIDEO_TARGETS = 63   # see fada_bench.train_synthetic_backbones.video_targets


def build_network(name: str, config: dict | None = None) -> nn.Module:
    """An untrained backbone; `config` holds its constructor settings, as the registry records them."""
    nets = {"inverse_renderer": InverseRendererNet, "video_features": lambda **kw: VideoFeatureNet(VIDEO_TARGETS, **kw),
            "syncnet": SyncNetSmall, "iqa": QualityNet}
    if name not in nets:
        raise KeyError(f"unknown synthetic backbone {name!r}; known: {', '.join(nets)}")
    return nets[name](**(config or {}))


def load_network(name: str, weights_dir: Path | None = None) -> nn.Module:
    """Build backbone `name`, load its verified weights (safetensors, fp16 on disk), eval mode."""
    from safetensors.torch import load_file

    path = weights_path(name, weights_dir)
    net = build_network(name, registry(weights_dir)[name].get("config"))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit the {type(net).__name__} of this version ({e}); "
                           f"rebuild it with `{REBUILD_COMMAND} --only {name}`") from None
    return net.eval()
