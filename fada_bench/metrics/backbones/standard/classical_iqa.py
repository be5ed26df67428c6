"""NIQE: a no-reference image quality score that needs no download (the offline IQA fallback).

NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image quality analyzer", 2013)
fits a multivariate Gaussian to natural-scene statistics of sharp patches of pristine images, and
scores an image by the distance of its own patch statistics from that model. Lower is better.
We follow the authors' MATLAB release (niqe.m, computefeature.m, estimateggdparam.m,
estimateaggdparam.m, estimatemodelparam.m): grey image on 0-255 (MATLAB's rgb2gray weights),
MSCN coefficients with a 7 x 7 Gaussian (sigma 7/6, replicated borders), 96 x 96 patches at two
scales (the second after a bicubic, antialiased half-size resize, as MATLAB's imresize(0.5)),
18 features per scale (a GGD fit of the MSCN values, AGGD fits of the four neighbour products),
pristine patches kept when their mean local deviation exceeds 0.75 of the image's sharpest.

The pristine model is ours: no installed package ships the authors' `modelparameters.mat`
(scikit-image, scipy and opencv do not; opencv-contrib's BRISQUE wants model files we do not
have; BRISQUE also needs human opinion scores to train, NIQE does not). So we fit it, with the
code below, on the natural photographs that scikit-image ships (`PRISTINE_IMAGES`; astronaut
is held out for the tests), and store the result in `_niqe_pristine.py`. Values are therefore
on NIQE's scale but not the published NIQE's numbers: the backbone is named `niqe-skimage`, so
the metric key reads `iqa[niqe-skimage]`.
"""
from __future__ import annotations

from functools import lru_cache
from math import gamma

import cv2
import numpy as np

from fada.data.io import check_frames
from fada.errors import InputError

PATCH = 96
SHARPNESS_FRACTION = 0.75
PRISTINE_IMAGES = ("camera", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
                   "stereo_motorcycle")

_ALPHAS = np.arange(0.2, 10.0 + 1e-9, 0.001)
# the moment ratios that identify a GGD's / AGGD's shape (estimateggdparam / estimateaggdparam)
_G = np.vectorize(gamma)
_R_GGD = _G(1 / _ALPHAS) * _G(3 / _ALPHAS) / _G(2 / _ALPHAS) ** 2
_R_AGGD = _G(2 / _ALPHAS) ** 2 / (_G(1 / _ALPHAS) * _G(3 / _ALPHAS))

# MATLAB imresize(x, 0.5), bicubic (a = -0.5) widened 2x for antialiasing: 8 taps per output pixel
_HALF_TAPS = np.array([-0.0234375, -0.0703125, 0.2265625, 0.8671875,
                       0.8671875, 0.2265625, -0.0703125, -0.0234375]) / 2.0


def to_gray(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey float64 on 0-255, rounded as MATLAB's rgb2gray on uint8."""
    if frame.ndim == 2:
        return frame.astype(np.float64)
    return np.rint(frame.astype(np.float64) @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103]))


def _half(im: np.ndarray) -> np.ndarray:
    """MATLAB's imresize(im, 0.5) for even sizes (symmetric borders), separable."""
    for axis in (0, 1):
        padded = np.pad(im, [(3, 4) if a == axis else (0, 0) for a in (0, 1)], mode="symmetric")
        n = im.shape[axis] // 2
        idx = 2 * np.arange(n)[:, None] + np.arange(8)[None, :]       # window of output j
        windows = np.take(padded, idx, axis=axis)                       # axis -> (n, 8)
        im = np.tensordot(windows, _HALF_TAPS, axes=([axis + 1], [0]))
    return im


def _mscn(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = cv2.getGaussianKernel(7, 7 / 6)
    win = g @ g.T
    mu = cv2.filter2D(im, -1, win, borderType=cv2.BORDER_REPLICATE)
    var = cv2.filter2D(im * im, -1, win, borderType=cv2.BORDER_REPLICATE) - mu * mu
    sigma = np.sqrt(np.abs(var))
    return (im - mu) / (sigma + 1), sigma


def _ggd(v: np.ndarray) -> tuple[float, float]:
    sigma_sq = np.mean(v * v)
    rho = sigma_sq / max(np.mean(np.abs(v)) ** 2, 1e-12)
    return float(_ALPHAS[np.argmin(np.abs(rho - _R_GGD))]), float(sigma_sq)


def _aggd(v: np.ndarray) -> tuple[float, float, float]:
    left = np.sqrt(np.mean(v[v < 0] ** 2)) if (v < 0).any() else 0.0
    right = np.sqrt(np.mean(v[v > 0] ** 2)) if (v > 0).any() else 0.0
    g = left / right if right > 0 else 1.0
    rhat = np.mean(np.abs(v)) ** 2 / max(np.mean(v * v), 1e-12)
    rnorm = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    return float(_ALPHAS[np.argmin((_R_AGGD - rnorm) ** 2)]), float(left), float(right)


def _patch_features(block: np.ndarray) -> list[float]:
    """computefeature.m: 2 GGD + 4 x 4 AGGD values for one MSCN patch."""
    feats = list(_ggd(block.ravel()))
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        pair = (block * np.roll(block, shift, axis=(0, 1))).ravel()
        a, left, right = _aggd(pair)
        mean = (right - left) * (gamma(2 / a) / gamma(1 / a)) * np.sqrt(gamma(1 / a) / gamma(3 / a))
        feats += [a, mean, left ** 2, right ** 2]
    return feats


def image_features(gray: np.ndarray, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """(n_patches, 36) NIQE features and (n_patches,) sharpness of a grey image."""
    rows, cols = gray.shape[0] // patch, gray.shape[1] // patch
    if rows == 0 or cols == 0:
        raise InputError(f"NIQE needs images of at least {patch} x {patch} pixels, got {gray.shape[1]} x {gray.shape[0]}")
    im = gray[: rows * patch, : cols * patch]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        p = patch // scale
        mscn, sigma = _mscn(im)
        blocks = [(r, c) for c in range(cols) for r in range(rows)]     # MATLAB's column order
        per_scale.append(np.array([_patch_features(mscn[r * p:(r + 1) * p, c * p:(c + 1) * p])
                                   for r, c in blocks]))
        if scale == 1:
            sharpness = np.array([sigma[r * p:(r + 1) * p, c * p:(c + 1) * p].mean() for r, c in blocks])
        im = _half(im)
    return np.concatenate(per_scale, axis=1), sharpness


def fit_pristine_model(images, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """estimatemodelparam.m: mean and covariance of the sharp patches of pristine images."""
    kept = []
    for img in images:
        feats, sharp = image_features(to_gray(np.asarray(img)), patch)
        kept.append(feats[sharp > SHARPNESS_FRACTION * sharp.max()])
    feats = np.concatenate(kept)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def pristine_images_from_skimage() -> list[np.ndarray]:
    """The pristine set: scikit-image's bundled photographs (a dev dependency; no download)."""
    import skimage.data as data
    out = []
    for name in PRISTINE_IMAGES:
        img = getattr(data, name)()
        out.extend(img[:2] if isinstance(img, tuple) else [img])     # both stereo views
    return out


def niqe(gray: np.ndarray, mu: np.ndarray, cov: np.ndarray, patch: int = PATCH) -> float:
    """niqe.m: Mahalanobis-like distance between the image's patch model and the pristine one."""
    feats, _ = image_features(gray, patch)
    mu_d = feats.mean(axis=0)
    cov_d = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros_like(cov)
    diff = mu - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov + cov_d) / 2) @ diff))


@lru_cache(maxsize=1)
def _stored_model() -> tuple[np.ndarray, np.ndarray]:
    from ._niqe_pristine import COV, MU
    return np.array(MU), np.array(COV)


class NIQEScorer:
    """QualityScorer `niqe-skimage`: per-frame NIQE with our scikit-image pristine model.
    Lower is better (`higher_is_better = False`); frames need at least 96 x 96 pixels."""
    name = "niqe-skimage"
    higher_is_better = False

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        mu, cov = _stored_model()
        return np.array([niqe(to_gray(f), mu, cov) for f in frames])


def write_pristine_module(path) -> None:
    """Refit the pristine model from scikit-image's photographs and write `_niqe_pristine.py`."""
    mu, cov = fit_pristine_model(pristine_images_from_skimage())
    def fmt(row):
        return "[" + ", ".join(f"{v:.12g}" for v in row) + "]"

    lines = ['"""NIQE pristine model fitted by classical_iqa.write_pristine_module on scikit-image\'s',
             f"photographs {', '.join(PRISTINE_IMAGES)} ({PATCH} px patches). Generated: do not edit.", '"""',
             "MU = " + fmt(mu), "COV = ["] + ["    " + fmt(r) + "," for r in cov] + ["]", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":     # python -m fada_bench.metrics.backbones.standard.classical_iqa
    from pathlib import Path
    write_pristine_module(Path(__file__).with_name("_niqe_pristine.py"))
