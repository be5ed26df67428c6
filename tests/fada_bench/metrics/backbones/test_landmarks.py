"""The real-world landmark detectors of the paired metrics (`lmd[dlib]`, `lmd[mediapipe]`) on
scikit-image's astronaut photograph, a real face that ships offline: the landmarks land on the face
that another detector finds, follow the photo when it is shifted, and the paired LMD of the photo
with its shifted copy is near 0 after eye alignment."""
import numpy as np
import pytest
from skimage import data as skimage_data

from fada_bench.metrics.paired import LandmarkDistance, MouthLandmarkDistance

SHIFT = (23, 11)     # pixels right and down


@pytest.fixture(scope="module")
def photo():
    return skimage_data.astronaut()


def shifted(img, dx, dy):
    out = np.zeros_like(img)
    out[dy:, dx:] = img[:-dy, :-dx]
    return out


@pytest.fixture(scope="module")
def mesh():
    from fada_bench.metrics.backbones.standard.mediapipe_expr import MediapipeExpression

    m = MediapipeExpression()
    yield m
    m.close()


@pytest.fixture(scope="module")
def dlib68():
    from importlib.util import find_spec

    if find_spec("dlib") is None or find_spec("face_recognition_models") is None:
        pytest.skip('the face extra is not installed (pip install "fada-bench[face]")')
    from fada_bench.metrics.backbones.standard.dlib_landmarks import DlibLandmarks

    return DlibLandmarks()


def face_box(mesh, img):
    """The box of mediapipe's face mesh: an independent detector's idea of where the face is."""
    lm = mesh.face_landmarks(img[None])[0]
    return lm.min(0), lm.max(0)


def test_dlib_landmarks_land_on_the_face(dlib68, mesh, photo):
    lm = dlib68.face_landmarks(photo[None])[0]
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    lo, hi = face_box(mesh, photo)
    margin = 0.1 * (hi - lo)
    assert ((lm > lo - margin) & (lm < hi + margin)).all()
    # The 68-point convention: eyes above the nose tip, the nose tip above the mouth.
    eye_y = lm[36:48, 1].mean()
    assert eye_y < lm[33, 1] < lm[48:68, 1].mean()


@pytest.mark.parametrize("which", ["dlib68", "mesh"])
def test_a_shifted_photo_gives_shifted_landmarks_and_zero_paired_lmd(which, request, photo):
    det = request.getfixturevalue(which)
    a = det.face_landmarks(photo[None])
    b = det.face_landmarks(shifted(photo, *SHIFT)[None])
    assert np.median(np.abs(b - a - np.array(SHIFT)), axis=1).max() < 1.0      # pixels
    iod = np.linalg.norm(np.subtract(*[a[0, list(e)].mean(0) for e in det.eye_points]))
    for metric in (LandmarkDistance, MouthLandmarkDistance):
        m = metric.of(det)
        # Within 1.5 px on average (the eyes are about 43 px apart): the detectors' own jitter.
        assert m.sample_value(b, a) < 1.5 / iod, (metric.name, m.sample_value(b, a) * iod)


def test_a_missing_face_extra_names_the_install_command(monkeypatch):
    from fada.errors import InputError
    from fada_bench.metrics.backbones.standard import dlib_models

    monkeypatch.setattr(dlib_models, "find_spec", lambda name: None)
    dlib_models.dlib_model_path.cache_clear()          # the lookup is cached per process
    try:
        with pytest.raises(InputError, match=r'pip install "fada-bench\[face\]"'):
            dlib_models.dlib_model_path("shape_predictor_68_face_landmarks.dat")
    finally:
        dlib_models.dlib_model_path.cache_clear()
