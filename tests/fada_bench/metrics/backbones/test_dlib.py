"""csim[dlib]: dlib's 128-d face descriptor from the `face` extra, on real faces that ship with
scikit-image: the astronaut photo (Eileen Collins) and the 100 faces of its LFW subset (25 x 25
grey crops of other people). No download: every image and model file is installed with a package."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from fada.errors import InputError
from fada_bench.metrics.backbones.standard import dlib_models
from fada_bench.weight_files.standard import WeightsError

needs_face = pytest.mark.skipif(importlib.util.find_spec("dlib") is None
                                or importlib.util.find_spec("face_recognition_models") is None,
                                reason='the face extra is not installed (pip install "fada-bench[face]")')


def as_rgb(gray01, face_px=100, pad=50):
    """An LFW-subset crop (25 x 25, grey in [0, 1]) at a size dlib's detector finds, on a grey field."""
    from skimage.transform import resize

    g = np.pad((resize(gray01, (face_px, face_px)) * 255).round().astype(np.uint8), pad, constant_values=128)
    return np.repeat(g[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def net():
    from fada_bench.metrics.backbones.standard.dlib_face import DlibIdentity

    return DlibIdentity()


@needs_face
def test_the_astronaut_against_herself_shifted_and_resized(net):
    from skimage.data import astronaut
    from skimage.transform import resize

    a = astronaut()
    shifted = np.roll(a, (20, -30), axis=(0, 1))
    resized = (resize(a, (384, 384)) * 255).round().astype(np.uint8)
    cropped = (resize(a[10:490, 30:500], (300, 300)) * 255).round().astype(np.uint8)
    emb = [net.embed_identity(x[None])[0] for x in (a, shifted, resized, cropped)]
    assert not np.isnan(emb).any()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-9)
    assert min(emb[0] @ e for e in emb[1:]) > 0.99


@needs_face
def test_other_faces_score_lower_than_the_astronaut_degraded_to_their_size(net):
    """The LFW faces are tiny grey crops, which lowers any similarity; the astronaut in grey,
    shrunk to a face of their size (1/4: about 23 px) and enlarged back, stays above every one."""
    from skimage.data import astronaut, lfw_subset
    from skimage.transform import resize

    a = astronaut()
    ref = net.embed_identity(a[None])[0]
    grey = a @ np.array([0.2125, 0.7154, 0.0721])
    small = resize(resize(grey, (128, 128), anti_aliasing=True), (512, 512)).round().astype(np.uint8)
    same = ref @ net.embed_identity(np.repeat(small[..., None], 3, -1)[None])[0]
    faces = lfw_subset()[:100]                        # the first 100 are faces, the rest are not
    others = net.embed_identity(np.stack([as_rgb(f) for f in faces])) @ ref
    found = others[~np.isnan(others)]
    assert len(found) >= 80
    assert same > 0.93
    assert found.max() < same


@needs_face
def test_model_files_are_found_in_the_package_and_checked():
    for name in ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat",
                 "shape_predictor_68_face_landmarks.dat"):
        path = dlib_models.dlib_model_path(name)
        assert path.is_file() and path.parent.name == "models" and path.parent.parent.name == dlib_models.PACKAGE
    assert "face_recognition_models" not in sys.modules or sys.modules["face_recognition_models"] is None


def test_a_missing_extra_names_it(monkeypatch):
    from fada_bench.metrics.backbones.standard import dlib_face

    monkeypatch.setitem(sys.modules, "dlib", None)                       # `import dlib` fails
    with pytest.raises(InputError, match=r'pip install "fada-bench\[face\]"'):
        dlib_face.DlibIdentity()
    assert dlib_face.available()[0] is False
    monkeypatch.delitem(sys.modules, "dlib")
    monkeypatch.setattr(dlib_models, "find_spec", lambda name: None)      # the models package is missing
    dlib_models.dlib_model_path.cache_clear()
    try:
        with pytest.raises(InputError, match=r'pip install "fada-bench\[face\]"'):
            dlib_models.dlib_model_path("shape_predictor_5_face_landmarks.dat")
    finally:
        dlib_models.dlib_model_path.cache_clear()


def test_a_model_file_that_is_not_the_published_one_is_refused(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "shape_predictor_5_face_landmarks.dat").write_bytes(b"not the model")
    spec = type("Spec", (), {"submodule_search_locations": [str(tmp_path)]})()
    monkeypatch.setattr(dlib_models, "find_spec", lambda name: spec)
    dlib_models.dlib_model_path.cache_clear()
    try:
        with pytest.raises(WeightsError, match=r"shape_predictor_5_face_landmarks.dat: sha256 [0-9a-f]{64} is not"):
            dlib_models.dlib_model_path("shape_predictor_5_face_landmarks.dat")
        (tmp_path / "models" / "shape_predictor_5_face_landmarks.dat").unlink()
        with pytest.raises(WeightsError, match="is missing from the installed face_recognition_models"):
            dlib_models.dlib_model_path("shape_predictor_5_face_landmarks.dat")
    finally:
        dlib_models.dlib_model_path.cache_clear()


@needs_face
def test_csim_dlib_is_registered_for_the_real_world():
    from fada_bench.registry import METRICS, metric_available

    assert metric_available(METRICS.get("csim[dlib]"), "real") == (True, "")
    assert metric_available(METRICS.get("id_drift[dlib]"), "real") == (True, "")
    assert not metric_available(METRICS.get("csim[dlib]"), "synthetic")[0]
