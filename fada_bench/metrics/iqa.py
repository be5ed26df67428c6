"""IQA: no-reference image quality, the per-sample mean over frames of a scorer on Q-Align's
1-5 scale (or the scorer's own scale, named in the key); reported as the mean over samples with
a 95% t interval, as the paper reports IQA."""
from __future__ import annotations

import numpy as np

from fada.data.io import Video

from ..types import Sample
from .backbone_metric import FrameStrideMetric
from .backbones import QualityScorer


class ImageQuality(FrameStrideMetric):
    name = "iqa"
    protocol = QualityScorer
    per_sample = True
    higher_is_better = True

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        return np.asarray(self.net.score_frames(self.frames(video)), dtype=np.float64).ravel()

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return float(np.mean(gen))

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

ImageQualitySynthetic = register_bound(ImageQuality, _syn.BACKBONE_NAME, _syn.load_quality_scorer, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where pyiqa is installed and the user's Q-Align folder is found.
from .backbones import standard as _standard  # noqa: E402

ImageQualityQAlign = register_bound(ImageQuality, "qalign-pyiqa", _standard.factory("qalign-pyiqa"), worlds=("real",))
# The offline classical fallback (no download): NIQE with our pristine model, on NIQE's own scale
# (lower is better), so the key names it and the direction is turned.
ImageQualityNIQE = register_bound(ImageQuality, "niqe-skimage", _standard.factory("niqe-skimage"), worlds=("real",),
                                  higher_is_better=False)
