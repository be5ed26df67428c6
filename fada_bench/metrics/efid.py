"""E-FID: the Fréchet distance over per-frame expression coefficients (paper Sec. 4.1: FID over
the expression parameters of a 3D face reconstruction; in the synthetic world, the inverse
renderer's expression output).

Like FID it compares the pooled distributions of the two sets. It does not see which clip an
expression belongs to: swapping whole expression tracks between clips leaves it unchanged.
Whether the mouth follows *this* clip's audio is Sync-D's question."""
from __future__ import annotations

import numpy as np

from fada.data.io import Video

from ..types import Sample
from .backbone_metric import BackboneMetric
from .backbones import ExpressionExtractor
from .fid import frechet_distance_rows


class ExpressionFrechetDistance(BackboneMetric):
    name = "efid"
    protocol = ExpressionExtractor
    per_sample = False
    higher_is_better = False
    sampling = "every frame"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        rows = np.asarray(self.net.expressions(video.frames), dtype=np.float64)
        # A frame where a real-world extractor finds no face is a row of NaN: it has no
        # expression to compare, and one such row would turn the whole set's distance into NaN.
        return rows[np.isfinite(rows).all(axis=1)]

    def set_value(self, gen: np.ndarray, ref: np.ndarray) -> float:
        return frechet_distance_rows(gen, ref)

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

ExpressionFrechetDistanceSynthetic = register_bound(ExpressionFrechetDistance, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where the user's weight file is found (`fada-bench list metrics` says which).
from .backbones import standard as _standard  # noqa: E402

ExpressionFrechetDistanceDeep3D = register_bound(ExpressionFrechetDistance, "deep3d", _standard.factory("deep3d"), worlds=("real",))
# Without the Deep3DFaceRecon file: mediapipe face-mesh landmarks normalised for pose.
ExpressionFrechetDistanceMediapipe = register_bound(ExpressionFrechetDistance, "mediapipe", _standard.factory("mediapipe"), worlds=("real",))
