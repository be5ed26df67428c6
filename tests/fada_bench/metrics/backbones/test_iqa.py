"""NIQE (our offline IQA fallback) ranks degradations of a held-out photo in the right order.

astronaut is not in the pristine set, so these are held-out checks. NIQE is lower-is-better.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fada.errors import InputError
from fada_bench.metrics.backbones import QualityScorer
from fada_bench.metrics.backbones.standard import classical_iqa
from fada_bench.metrics.backbones.standard._niqe_pristine import COV, MU

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def _scores(frames):
    return classical_iqa.NIQEScorer().score_frames(np.stack(frames))


def _strictly_increasing(xs):
    return all(b > a for a, b in zip(xs, xs[1:]))


def test_is_a_quality_scorer_named_for_its_pristine_set():
    s = classical_iqa.NIQEScorer()
    assert isinstance(s, QualityScorer) and s.name == "niqe-skimage" and s.higher_is_better is False


def test_worse_with_more_blur(astronaut):
    # Beyond sigma ~2 at 512 px NIQE saturates (the MSCN statistics of a flat patch stop changing).
    scores = _scores([astronaut] + [cv2.GaussianBlur(astronaut, (0, 0), s) for s in (1.0, 1.5, 2.0)])
    assert _strictly_increasing(scores), scores


def test_worse_with_more_noise(astronaut):
    rng = np.random.default_rng(0)
    noisy = [np.clip(astronaut + rng.normal(0, s, astronaut.shape), 0, 255).astype(np.uint8) for s in (5, 10, 20)]
    scores = _scores([astronaut] + noisy)
    assert _strictly_increasing(scores), scores


def test_worse_with_stronger_jpeg(astronaut):
    def jpeg(q):
        ok, buf = cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    scores = _scores([jpeg(q) for q in (90, 50, 30, 15, 8)])
    assert _strictly_increasing(scores), scores


def test_half_size_resize_matches_matlab_bicubic_on_a_ramp():
    # MATLAB's imresize(x, 0.5) reproduces a linear ramp away from the borders: each output
    # pixel is the mean of the two input pixels it covers.
    im = np.tile(np.arange(32, dtype=np.float64), (32, 1))
    half = classical_iqa._half(im)
    assert half.shape == (16, 16)
    np.testing.assert_allclose(half[:, 2:-2], np.tile(np.arange(0.5, 32, 2)[2:-2], (16, 1)), atol=1e-12)


def test_stored_pristine_model_is_what_the_fit_gives():
    mu, cov = classical_iqa.fit_pristine_model(classical_iqa.pristine_images_from_skimage())
    np.testing.assert_allclose(mu, MU, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov, COV, rtol=1e-9, atol=1e-12)


def test_too_small_frames_are_refused():
    with pytest.raises(InputError, match="at least 96 x 96"):
        classical_iqa.NIQEScorer().score_frames(np.zeros((1, 64, 64, 3), np.uint8))
