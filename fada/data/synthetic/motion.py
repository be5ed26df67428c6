"""Facial and head motion driven by speech: the ground truth that a talking-head model must learn.

- The jaw opens with the vowel's openness times its loudness, the mouth widens with its spread.
- Brows rise on stressed syllables; blinks come at random (a Poisson process).
- Head motion is a slow random drift plus nods on loud syllables and turns with pitch.
All smoothing is zero-phase, so the mouth is exactly in sync with the audio (offset 0).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..io import FPS
from .params import EX, EXPRESSION_DIM, PO, POSE_DIM
from .speech import SpeechTrack


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter1d(np.asarray(x, dtype=np.float64), sigma, mode="nearest") if sigma > 0 else x


def _ou(rng: np.random.Generator, n: int, tau_frames: float, sigma: float) -> np.ndarray:
    """Ornstein-Uhlenbeck drift with stationary std `sigma`, started from its stationary law."""
    a = np.exp(-1.0 / tau_frames)
    e = rng.normal(0.0, sigma * np.sqrt(1 - a * a), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sigma)
    for i in range(1, n):
        x[i] = a * x[i - 1] + e[i]
    return x


def expression_from_speech(rng: np.random.Generator, sp: SpeechTrack, fps: float = FPS) -> np.ndarray:
    n = sp.openness.size
    e = np.zeros((n, EXPRESSION_DIM), dtype=np.float32)
    e[:, EX["jaw_open"]] = np.clip(_smooth(sp.openness, 0.7) * 1.1, 0.0, 1.0)
    e[:, EX["mouth_width"]] = np.clip(_smooth(sp.spread, 0.7) * 0.9, -1.0, 1.0)
    # Blinks: about one every 3.5 s, each 5 frames long.
    blink = np.zeros(n)
    t = rng.exponential(3.5 * fps)
    shape = np.array([0.4, 0.9, 1.0, 0.7, 0.3])
    while t < n:
        i = int(t)
        m = min(len(shape), n - i)
        blink[i:i + m] = np.maximum(blink[i:i + m], shape[:m])
        t += 6 + rng.exponential(3.5 * fps)
    e[:, EX["blink"]] = blink
    e[:, EX["brow"]] = np.clip(0.8 * _smooth(sp.stress * sp.envelope, 2.0) + _ou(rng, n, 25, 0.08), -1.0, 1.0)
    return e


def pose_from_speech(rng: np.random.Generator, sp: SpeechTrack, motion_scale: float = 1.0,
                     jitter: float = 0.0) -> np.ndarray:
    """Head pose per frame. `motion_scale` 0 freezes the head; > 1 exaggerates it; `jitter`
    adds frame-to-frame shake (for the excessive-motion defect)."""
    n = sp.envelope.size
    voiced = sp.f0 > 0
    f0_dev = np.zeros(n)
    if voiced.any():
        f0_dev[voiced] = np.log(sp.f0[voiced] / np.median(sp.f0[voiced]))
    loud = _smooth(sp.envelope, 3.0)
    p = np.zeros((n, POSE_DIM))
    p[:, PO["yaw"]] = _ou(rng, n, 40, 0.12) + 0.6 * _smooth(f0_dev, 4.0)
    p[:, PO["pitch"]] = _ou(rng, n, 30, 0.06) + 0.18 * (loud - loud.mean())
    p[:, PO["roll"]] = _ou(rng, n, 50, 0.05)
    p[:, PO["shift_x"]] = _ou(rng, n, 60, 0.03)
    p[:, PO["shift_y"]] = _ou(rng, n, 60, 0.02) + 0.02 * (loud - loud.mean())
    p[:, PO["scale"]] = _ou(rng, n, 80, 0.025)
    p *= motion_scale
    if jitter > 0:
        p += rng.normal(0.0, jitter, p.shape) * np.array([1.0, 0.8, 0.6, 0.3, 0.3, 0.15])
    if motion_scale == 0.0:
        p[:] = p[0]
    p[:, PO["scale"]] += 1.0
    return p.astype(np.float32)
