"""Parameter vectors of the synthetic talking-face world.

Identity, expression and pose are plain float vectors with named slots, so they can be stored
per frame, regressed by the inverse renderer, and compared by E-FID like 3DMM coefficients.
"""
from __future__ import annotations

import numpy as np

# Identity: geometry, colours and style of one person and their scene. Colours are RGB in [0, 1].
IDENTITY_FIELDS = (
    "face_w", "face_h", "jaw_taper", "eye_spacing", "eye_size", "eye_y", "brow_thick",
    "nose_len", "mouth_y", "mouth_w", "lip_thick", "hair_volume", "fringe",
    "skin_r", "skin_g", "skin_b", "hair_r", "hair_g", "hair_b",
    "iris_r", "iris_g", "iris_b", "lip_r", "lip_g", "lip_b",
    "bg1_r", "bg1_g", "bg1_b", "bg2_r", "bg2_g", "bg2_b", "bg_stripes", "bg_angle",
    "shirt_r", "shirt_g", "shirt_b", "voice_f0",
)
# Expression: the analogue of 3DMM expression coefficients.
EXPRESSION_FIELDS = ("jaw_open", "mouth_width", "blink", "brow")
# Pose: rotation (radians), shift (fraction of the half image) and scale.
POSE_FIELDS = ("yaw", "pitch", "roll", "shift_x", "shift_y", "scale")
# Landmarks rendered with each frame, in pixels (x, y).
LANDMARK_NAMES = ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r", "mouth_top", "mouth_bottom", "chin")

IDENTITY_DIM = len(IDENTITY_FIELDS)
EXPRESSION_DIM = len(EXPRESSION_FIELDS)
POSE_DIM = len(POSE_FIELDS)
ID = {k: i for i, k in enumerate(IDENTITY_FIELDS)}
EX = {k: i for i, k in enumerate(EXPRESSION_FIELDS)}
PO = {k: i for i, k in enumerate(POSE_FIELDS)}

NEUTRAL_EXPRESSION = np.zeros(EXPRESSION_DIM, dtype=np.float32)
NEUTRAL_POSE = np.array([0, 0, 0, 0, 0, 1], dtype=np.float32)

_SKIN_TONES = np.array([
    [0.98, 0.87, 0.77], [0.94, 0.78, 0.64], [0.85, 0.64, 0.48], [0.72, 0.52, 0.37],
    [0.56, 0.39, 0.27], [0.40, 0.27, 0.19],
])
_HAIR = np.array([
    [0.10, 0.07, 0.05], [0.30, 0.18, 0.10], [0.55, 0.35, 0.18], [0.85, 0.70, 0.40],
    [0.60, 0.25, 0.10], [0.75, 0.75, 0.75], [0.20, 0.20, 0.22],
])
_IRIS = np.array([[0.25, 0.15, 0.08], [0.20, 0.40, 0.65], [0.30, 0.45, 0.25], [0.10, 0.08, 0.06]])


def _pick(rng: np.random.Generator, table: np.ndarray, jitter: float) -> np.ndarray:
    c = table[rng.integers(len(table))] + rng.normal(0, jitter, 3)
    return np.clip(c, 0.0, 1.0)


def sample_identity(rng: np.random.Generator, style: str = "normal") -> np.ndarray:
    """Draw one identity. `style="openset"` draws out-of-distribution styles (odd palettes,
    proportions and backgrounds) for the open-set split."""
    v = np.zeros(IDENTITY_DIM, dtype=np.float64)
    u = rng.uniform
    v[ID["face_w"]] = u(0.36, 0.46)
    v[ID["face_h"]] = u(0.50, 0.60)
    v[ID["jaw_taper"]] = u(0.15, 0.45)
    v[ID["eye_spacing"]] = u(0.15, 0.21)
    v[ID["eye_size"]] = u(0.055, 0.075)
    v[ID["eye_y"]] = u(-0.14, -0.06)
    v[ID["brow_thick"]] = u(0.015, 0.03)
    v[ID["nose_len"]] = u(0.10, 0.17)
    v[ID["mouth_y"]] = u(0.24, 0.31)
    v[ID["mouth_w"]] = u(0.11, 0.16)
    v[ID["lip_thick"]] = u(0.022, 0.036)
    v[ID["hair_volume"]] = u(0.0, 1.0)
    v[ID["fringe"]] = u(0.0, 1.0)
    skin = _pick(rng, _SKIN_TONES, 0.03)
    hair = _pick(rng, _HAIR, 0.04)
    iris = _pick(rng, _IRIS, 0.03)
    lip = np.clip(skin * np.array([0.85, 0.55, 0.55]) + rng.normal(0, 0.03, 3), 0, 1)
    bg1 = rng.uniform(0.15, 0.9, 3)
    bg2 = np.clip(bg1 + rng.normal(0, 0.15, 3), 0, 1)
    shirt = rng.uniform(0.05, 0.9, 3)
    stripes = u(0.0, 0.3) if rng.random() < 0.5 else 0.0
    if style == "openset":
        # Out of distribution: saturated fantasy palettes, wide proportions, strong patterns.
        skin = rng.uniform(0.2, 1.0, 3) * np.array([0.5, 1.0, 1.0])[rng.permutation(3)]
        hair = rng.uniform(0.0, 1.0, 3)
        lip = rng.uniform(0.0, 1.0, 3)
        v[ID["face_w"]] = u(0.44, 0.52)
        v[ID["face_h"]] = u(0.44, 0.52)
        v[ID["jaw_taper"]] = u(0.0, 0.12)
        v[ID["eye_size"]] = u(0.075, 0.09)
        stripes = u(0.5, 0.9)
    elif style != "normal":
        raise ValueError(f"unknown identity style {style!r}; known: 'normal', 'openset'")
    for name, c in (("skin", skin), ("hair", hair), ("iris", iris), ("lip", lip),
                    ("bg1", bg1), ("bg2", bg2), ("shirt", shirt)):
        v[[ID[f"{name}_r"], ID[f"{name}_g"], ID[f"{name}_b"]]] = c
    v[ID["bg_stripes"]] = stripes
    v[ID["bg_angle"]] = u(0, np.pi)
    v[ID["voice_f0"]] = u(95.0, 230.0)
    return v.astype(np.float32)


def color(identity: np.ndarray, name: str) -> np.ndarray:
    return identity[[ID[f"{name}_r"], ID[f"{name}_g"], ID[f"{name}_b"]]].astype(np.float32)
