"""FID: the Fréchet distance between Gaussians fitted to frame features of two video sets.

The Fréchet distance here is the one implementation that FID, FVD and E-FID share.
"""
from __future__ import annotations

import numpy as np

from fada.data.io import Video

from ..types import Sample
from .backbone_metric import FrameStrideMetric
from .backbones import FrameEmbedder


def gaussian_stats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (ddof 1, as pytorch-fid's np.cov) of the rows of an N x D array."""
    x = np.asarray(rows, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 feature rows per set, got shape {x.shape}")
    mu = x.mean(axis=0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d² = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)  (Dowson & Landau 1982; Heusel et
    al. 2017, FID).

    tr((S1 S2)^½) is computed as the sum of square roots of the eigenvalues of the symmetric PSD
    matrix S1^½ S2 S1^½, which has the same spectrum as S1 S2. Unlike scipy's `sqrtm(S1 @ S2)`
    (pytorch-fid's route) this needs no complex arithmetic or eps offset for the rank-deficient
    covariances of small sets, and it stays exact for full-rank ones."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    r1 = _psd_sqrt((s1 + s1.T) / 2)
    m = r1 @ ((s2 + s2.T) / 2) @ r1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    d = mu1 - mu2
    return float(max(0.0, d @ d + np.trace(s1) + np.trace(s2) - 2.0 * cross))


def frechet_distance_rows(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of `a` and of `b`."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


class FrechetInceptionDistance(FrameStrideMetric):
    """FID over per-frame features (Inception pool3 in the real world). Per set: the frames of
    all samples are pooled, as the paper's peers compute it, with a bootstrap interval over
    samples. `frame_stride` keeps every n-th frame from frame 0 (1: every frame); it is recorded
    in `sampling`."""
    name = "fid"
    protocol = FrameEmbedder
    per_sample = False
    higher_is_better = False

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        return np.asarray(self.net.embed_frames(self.frames(video)), dtype=np.float64)

    def set_value(self, gen: np.ndarray, ref: np.ndarray) -> float:
        return frechet_distance_rows(gen, ref)

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

FrechetInceptionDistanceSynthetic = register_bound(FrechetInceptionDistance, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where the backbone's weight file (and package) is found (`fada-bench list metrics`).
from .backbones import standard as _standard  # noqa: E402

FrechetInceptionDistanceInception = register_bound(FrechetInceptionDistance, "inception", _standard.factory("inception"), worlds=("real",))
