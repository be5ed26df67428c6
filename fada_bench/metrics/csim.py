"""CSIM: identity similarity between the reference image and each generated frame (beyond the
paper; its peers report it): the mean over frames of the cosine similarity of face identity
embeddings: the inverse renderer's identity in the synthetic world; in the real world dlib's 128-d
face descriptor (`csim[dlib]`, no weight file to find: `pip install "fada-bench[face]"`) or
ArcFace (`csim[arcface]`, from the user's insightface buffalo_l folder)."""
from __future__ import annotations

import numpy as np

from fada.data.io import Video

from ..types import Sample
from .backbone_metric import BackboneMetric
from .backbones import IdentityEmbedder


def cosine_to(ref: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `rows` (T x D) with the vector `ref` (D,)."""
    ref = np.asarray(ref, np.float64).ravel()
    rows = np.asarray(rows, np.float64)
    den = np.linalg.norm(rows, axis=1) * np.linalg.norm(ref)
    return rows @ ref / np.maximum(den, 1e-12)


class IdentitySimilarity(BackboneMetric):
    name = "csim"
    protocol = IdentityEmbedder
    per_sample = True
    higher_is_better = True
    paper = False
    sampling = "every frame against the sample's reference image"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        ref = np.asarray(self.net.embed_identity(sample.reference[None]))[0]
        return cosine_to(ref, self.net.embed_identity(video.frames))

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return float(np.mean(gen))

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

IdentitySimilaritySynthetic = register_bound(IdentitySimilarity, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where the backbone's weight file (and package) is found (`fada-bench list metrics`).
from .backbones import standard as _standard  # noqa: E402

IdentitySimilarityDlib = register_bound(IdentitySimilarity, "dlib", _standard.factory("dlib"), worlds=("real",))
IdentitySimilarityArcFace = register_bound(IdentitySimilarity, "arcface", _standard.factory("arcface"), worlds=("real",))
