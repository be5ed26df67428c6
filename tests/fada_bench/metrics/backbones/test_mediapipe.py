"""mediapipe expression features: found on a face photo, blind to pose, sensitive to the mouth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fada_bench.metrics.backbones import ExpressionExtractor
from fada_bench.metrics.backbones.standard import mediapipe_expr as mx

skimage_data = pytest.importorskip("skimage.data")
I13, I14 = mx.EXPRESSION.index(13), mx.EXPRESSION.index(14)     # inner upper / lower lip
N_LIPS = len(mx.LIPS)


@pytest.fixture(scope="module")
def extractor():
    e = mx.MediapipeExpression()
    yield e
    e.close()


@pytest.fixture(scope="module")
def face():
    return skimage_data.astronaut()


def _points(extractor, img):
    return extractor.expressions(img[None])[0].reshape(-1, 3)


def _affine(img, degrees, scale):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _open_mouth(img, landmarks, px):
    """Push the lower lip and chin down by up to `px` pixels with a smooth displacement field."""
    h, w = img.shape[:2]
    lips = landmarks[list(mx.LIPS), :2]
    cx, cy = lips.mean(0)
    width = np.ptp(lips[:, 0])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wx = np.exp(-((xx - cx) / (0.6 * width)) ** 2)
    wy = np.clip((yy - cy) / (0.15 * width), 0, 1) * np.exp(-np.clip(yy - cy - 0.6 * width, 0, None) ** 2 / (0.5 * width) ** 2)
    return cv2.remap(img, xx, (yy - px * wx * wy).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_landmarks_found_and_feature_size(extractor, face):
    assert isinstance(extractor, ExpressionExtractor) and extractor.name == "mediapipe"
    lm = extractor.landmarks(face)
    assert lm.shape == (468, 3)
    feats = extractor.expressions(face[None])
    assert feats.shape == (1, len(mx.EXPRESSION) * 3) and np.isfinite(feats).all()


def test_no_face_gives_a_nan_row(extractor, face):
    frames = np.stack([np.zeros_like(face), face])
    feats = extractor.expressions(frames)
    assert np.isnan(feats[0]).all() and np.isfinite(feats[1]).all()


def test_alignment_removes_an_exact_similarity_transform(extractor, face):
    # Independent of mediapipe: moving the landmarks rigidly (3D rotation, scale, shift) leaves
    # the aligned landmarks unchanged.
    lm = extractor.landmarks(face)
    a, b = np.deg2rad(20), np.deg2rad(-10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    moved = 1.7 * lm @ (rz @ ry).T + np.array([30.0, -12.0, 5.0])
    np.testing.assert_allclose(extractor.align(moved), extractor.align(lm), atol=1e-9)


def test_small_image_rotation_and_scale_barely_change_features(extractor, face):
    f0 = _points(extractor, face)
    for degrees, scale in [(5, 1.0), (-5, 1.0), (0, 0.9), (0, 1.1), (4, 0.92)]:
        f = _points(extractor, _affine(face, degrees, scale))
        rms = np.sqrt(np.mean((f - f0) ** 2))      # in inter-ocular distances
        assert rms < 0.02, (degrees, scale, rms)
        assert abs((f[I13, 1] - f[I14, 1]) - (f0[I13, 1] - f0[I14, 1])) < 0.04


def test_opening_the_mouth_changes_the_lip_features(extractor, face):
    f0 = _points(extractor, face)
    f_pose = [_points(extractor, _affine(face, d, s)) for d, s in [(5, 1.0), (0, 0.9)]]
    f_open = _points(extractor, _open_mouth(face, extractor.landmarks(face), 12))
    def lips_rms(f):
        return np.sqrt(np.mean((f[:N_LIPS] - f0[:N_LIPS]) ** 2))

    assert lips_rms(f_open) > 2 * max(lips_rms(f) for f in f_pose)
    gap0, gap = f0[I13, 1] - f0[I14, 1], f_open[I13, 1] - f_open[I14, 1]
    assert gap > gap0 + 0.08, (gap0, gap)


def test_stored_template_is_the_astronauts_frontal_frame(extractor, face):
    np.testing.assert_allclose(mx.frontal_template(extractor.landmarks(face)), mx.TEMPLATE, atol=2e-3)
