"""Long-video drift (beyond the paper): does a generated video stay the same person, in the same
colours, without visible seams, over a minute?

Long-horizon benchmarks (GenBench with Live Avatar, 2025) measure drift over minutes of video; the
paper's metrics average over a clip and miss it. All three metrics here are per sample and lower
is better; they compare the first `DRIFT_SECONDS` (10 s) of a video with its last 10 s, so they
need a video of at least 20 s (the `synthetic_long` suite's 60 s clips) and are scored only where
a suite lists them or `--metrics` names them (`long_video = True`), never by default on short clips.

- `id_drift[BACKBONE]`: 1 - cos(mean identity embedding of the first 10 s, of the last 10 s), with
  csim's identity backbones: the synthetic world's inverse renderer, dlib or ArcFace.
- `color_drift[pixel]`: distance in CIELAB between the colour statistics of the two windows.
- `seam[pixel]`: the frame step at each window boundary of a windowed generator, over the median
  step inside windows (`seam_ratios`; the generator's own test asserts it on the tiny teacher).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fada.data.io import Video
from fada.errors import InputError

from ..registry import register_metric
from ..types import Sample
from .backbone_metric import BackboneMetric, register_bound
from .backbones import IdentityEmbedder
from .base import BenchMetric
from .csim import cosine_to

DRIFT_SECONDS = 10.0     # length of the first and last windows compared
WINDOW_FRAMES = 16       # frames per generation window in every FADA model config (fada.models.configs)
LAB_CHUNK = 64           # frames converted to Lab at a time (bounds the float64 copies)


def end_windows(n_frames: int, fps: float, seconds: float = DRIFT_SECONDS) -> tuple[slice, slice]:
    """The first and the last `seconds` of a video of `n_frames` frames, as frame slices. The two
    must not overlap: a drift between windows that share frames would be understated."""
    k = int(round(seconds * fps))
    if k < 1 or 2 * k > n_frames:
        raise InputError(f"drift metrics compare the first and last {seconds:g} s, so they need a video of at "
                         f"least {2 * seconds:g} s; this one has {n_frames} frames at {fps:g} fps "
                         f"({n_frames / fps:.1f} s). Use a long-video suite (synthetic_long)")
    return slice(0, k), slice(n_frames - k, n_frames)


class DriftMetric:
    """What the three drift metrics share: scored per sample on long videos only, lower is better,
    not in the paper. Listed first among a metric's bases so it sets these before BenchMetric's
    defaults."""
    per_sample = True
    higher_is_better = False
    long_video = True
    paper = False


# ---------------------------------------------------------------------------- identity drift

class IdentityDrift(DriftMetric, BackboneMetric):
    """id_drift: 1 - cosine similarity of the identity embedding averaged over the first 10 s and
    over the last 10 s of the generated video (every frame of each window). 0: the same person at
    the end as at the start. Frames where a real-world backbone finds no face are left out of the
    average; a window with no face at all is an error for that sample."""
    name = "id_drift"
    protocol = IdentityEmbedder
    sampling = "every frame of the first and of the last 10 s"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        means = []
        for part, window in zip(("first", "last"), end_windows(video.n_frames, video.fps)):
            emb = np.asarray(self.net.embed_identity(video.frames[window]), np.float64)
            found = emb[~np.isnan(emb).any(axis=1)]
            if len(found) == 0:
                raise InputError(f"the {self.backbone} backbone found no face in the {part} {DRIFT_SECONDS:g} s")
            means.append(found.mean(axis=0))
        return np.concatenate(means)           # [first window's mean | last window's mean]

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        first, last = np.split(np.asarray(gen, np.float64), 2)
        return float(1.0 - cosine_to(first, last[None])[0])


# ---------------------------------------------------------------------------- colour drift

# sRGB (D65) to CIE XYZ, and the D65 white point (IEC 61966-2-1; CIE 15)
SRGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb8: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB pixels (... x 3), by the CIE formulas: L in [0, 100]."""
    c = np.asarray(rgb8, np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ SRGB_TO_XYZ.T / D65_WHITE
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_stats(frames: np.ndarray) -> np.ndarray:
    """Per-channel mean and standard deviation in CIELAB over every pixel of `frames`
    (T x H x W x 3 uint8 sRGB): [L, a, b means, L, a, b standard deviations]."""
    n, s, ss = 0, np.zeros(3), np.zeros(3)
    for i in range(0, len(frames), LAB_CHUNK):
        lab = srgb_to_lab(frames[i:i + LAB_CHUNK]).reshape(-1, 3)
        n += len(lab)
        s += lab.sum(axis=0)
        ss += np.square(lab).sum(axis=0)
    mean = s / n
    return np.concatenate([mean, np.sqrt(np.maximum(ss / n - mean ** 2, 0.0))])


@register_metric("color_drift[pixel]")
class ColorDrift(DriftMetric, BenchMetric):
    """color_drift: how far the colours of the last 10 s are from those of the first 10 s, as the
    Euclidean distance between their CIELAB statistics (per-channel mean and standard deviation
    over every pixel of every frame of the window, so a distance of 1 is about one just-noticeable
    difference). 0: the same colours throughout.

    The whole frame is used, not a face crop: a talking-head video's background and clothes drift
    with the face (a generator that recolours frames recolours all of them), and needing no face
    detector lets the metric run in both worlds without weights."""
    name = "color_drift"
    backbone = "pixel"
    sampling = "every frame of the first and of the last 10 s, every pixel"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        first, last = end_windows(video.n_frames, video.fps)
        return np.concatenate([lab_stats(video.frames[first]), lab_stats(video.frames[last])])

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        first, last = np.split(np.asarray(gen, np.float64), 2)
        return float(np.linalg.norm(last - first))


# ---------------------------------------------------------------------------- seams

class Seams(NamedTuple):
    ratios: np.ndarray     # one per window boundary: its frame step over `inside`
    inside: float          # median mean-absolute frame step between neighbours inside windows


def seam_ratios(frames: np.ndarray, window: int = WINDOW_FRAMES) -> Seams:
    """How visible the boundaries of a video generated `window` frames at a time are.

    The step from frame i to i + 1 is their mean absolute difference (8-bit levels); the boundary
    steps are those from the last frame of a window to the first of the next (frames
    `window * k - 1` -> `window * k`). Each boundary step is divided by the median step inside
    windows, so 1 means a boundary looks like any other step. A video of one window has no
    boundaries (an empty array)."""
    if window < 1:
        raise ValueError(f"window must be at least 1 frame, got {window}")
    steps = np.abs(np.diff(np.asarray(frames, np.float32), axis=0)).mean(axis=(1, 2, 3))
    seams = np.arange(window - 1, len(steps), window)
    inside = float(np.median(np.delete(steps, seams))) if len(steps) > len(seams) else 0.0
    # A still video (every step 0) has no seam to see: 0 / 0 counts as no seam, not as NaN.
    return Seams(steps[seams] / max(inside, 1e-6), inside)


@register_metric("seam[pixel]")
class SeamScore(DriftMetric, BenchMetric):
    """seam: the mean over window boundaries of `seam_ratios`: the frame step across a boundary of
    the generator's 16-frame windows over the median step inside windows. About 1: boundaries are
    invisible; the generator's test fails a video with any boundary above 3.

    The window is 16 frames, that of every FADA model (each window after the first is conditioned
    on the previous one's last motion frames, and a seam there is what drift looks like at a
    boundary). For a method with another window, make the metric with `SeamScore(window=N)`."""
    name = "seam"
    backbone = "pixel"

    def __init__(self, window: int = WINDOW_FRAMES, **kwargs):
        super().__init__(**kwargs)
        if window < 1:
            raise ValueError(f"window must be at least 1 frame, got {window}")
        self.window = window
        self.sampling = f"every frame; boundaries every {window} frames from frame 0"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        ratios = seam_ratios(video.frames, self.window).ratios
        if len(ratios) == 0:
            raise InputError(f"a video of {video.n_frames} frames is one {self.window}-frame window: no seam to score")
        return ratios

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return float(np.mean(gen))


# ---------------------------------------------------------------------------- backbones
from .backbones import synthetic as _syn  # noqa: E402
from .backbones import standard as _standard  # noqa: E402

IdentityDriftSynthetic = register_bound(IdentityDrift, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))
IdentityDriftDlib = register_bound(IdentityDrift, "dlib", _standard.factory("dlib"), worlds=("real",))
IdentityDriftArcFace = register_bound(IdentityDrift, "arcface", _standard.factory("arcface"), worlds=("real",))
