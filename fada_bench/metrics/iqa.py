"""IQA: no-reference image quality, the per-sample mean over frames of a scorer on Q-Align's
1-5 scale (or the scorer's own scale, named in the key); reported as the mean over samples with
a 95% t interval, as the paper reports IQA."""
from __future__ import annotations

import numpy as np

from fada.data.io import Video

from ..types import Sample
from .backbone_metric import BackboneMetric
from .backbones import QualityScorer


class ImageQuality(BackboneMetric):
    name = "iqa"
    protocol = QualityScorer
    per_sample = True
    higher_is_better = True

    def __init__(self, backbone=None, frame_stride: int = 1, **kwargs):
        super().__init__(backbone, **kwargs)
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
        self.frame_stride = frame_stride
        self.sampling = "every frame" if frame_stride == 1 else f"every {frame_stride}th frame from frame 0"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        return np.asarray(self.net.score_frames(video.frames[::self.frame_stride]), dtype=np.float64).ravel()

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return float(np.mean(gen))

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from . import synthetic_backbones as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

ImageQualitySynthetic = register_bound(ImageQuality, _syn.BACKBONE_NAME, _syn.load_quality_scorer, worlds=("synthetic",))
