"""FVD: the Fréchet distance between Gaussians fitted to clip features of two video sets
(Unterthiner et al. 2018, with I3D; FVD-R with a 3D-ResNet, as the paper's Table 1)."""
from __future__ import annotations

import numpy as np

from fada.data.io import Video
from fada.errors import InputError

from ..types import Sample
from .backbone_metric import BackboneMetric
from .backbones import ClipEmbedder
from .fid import frechet_distance_rows


def clip_starts(n_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start frames of the clips scored in a video of `n_frames` frames: 0, stride, 2 stride, ...
    while a whole clip fits."""
    return list(range(0, n_frames - clip_len + 1, stride))


class FrechetVideoDistance(BackboneMetric):
    """FVD over clips of the backbone's `clip_len` consecutive frames (16 for I3D and 3D-ResNet).

    Clips start at frame 0 and every `clip_stride` frames after it (default: `clip_len`, so
    non-overlapping clips; a tail shorter than a clip is dropped); the choice is recorded in
    `sampling`. A video shorter than one clip is an `InputError`, not a number."""
    name = "fvd"
    protocol = ClipEmbedder
    per_sample = False
    higher_is_better = False

    def __init__(self, backbone=None, clip_stride: int | None = None, **kwargs):
        super().__init__(backbone, **kwargs)
        self.clip_len = int(self.net.clip_len)
        self.clip_stride = int(clip_stride or self.clip_len)
        if self.clip_stride < 1:
            raise ValueError(f"clip_stride must be >= 1, got {clip_stride}")
        self.sampling = (f"{self.clip_len}-frame clips starting at frame 0, every {self.clip_stride} frames; "
                         "a shorter tail is dropped")

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        starts = clip_starts(video.n_frames, self.clip_len, self.clip_stride)
        if not starts:
            raise InputError(f"{self.key()}: sample {sample.id} has {video.n_frames} frames, "
                             f"shorter than one {self.clip_len}-frame clip")
        # The backbone cuts consecutive clips of clip_len frames, so the chosen clips are laid end
        # to end and embedded in one call.
        frames = np.concatenate([video.frames[s:s + self.clip_len] for s in starts])
        out = np.asarray(self.net.embed_clips(frames), dtype=np.float64)
        if out.shape[0] != len(starts):
            raise RuntimeError(f"{self.key()}: backbone {type(self.net).__name__} returned {out.shape[0]} "
                               f"clip embeddings for {len(starts)} clips")
        return out

    def set_value(self, gen: np.ndarray, ref: np.ndarray) -> float:
        return frechet_distance_rows(gen, ref)

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

FrechetVideoDistanceSynthetic = register_bound(FrechetVideoDistance, _syn.BACKBONE_NAME, _syn.load_video_net, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where the backbone's weight file (and package) is found (`fada-bench list metrics`).
from .backbones import standard as _standard  # noqa: E402

# FVD with I3D (the state dict or the TF-Hub TorchScript port), and FVD-R (the paper's Table 1)
# with the Kinetics 3D-ResNet-50.
FrechetVideoDistanceI3D = register_bound(FrechetVideoDistance, "i3d", _standard.factory("i3d"), worlds=("real",))
FrechetVideoDistanceI3DTFHub = register_bound(FrechetVideoDistance, "i3d_tfhub", _standard.factory("i3d_tfhub"), worlds=("real",))
FrechetVideoDistanceResNet3D = register_bound(FrechetVideoDistance, "resnet3d50", _standard.factory("resnet3d50"), worlds=("real",))
FrechetVideoDistanceResNet3DK700 = register_bound(FrechetVideoDistance, "resnet3d50_k700", _standard.factory("resnet3d50_k700"), worlds=("real",))
