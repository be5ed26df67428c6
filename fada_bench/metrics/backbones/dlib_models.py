"""Where dlib's model files are: inside the `face_recognition_models` package (the `face` extra),
found by path without importing it (its `__init__` imports `pkg_resources`, which recent
setuptools no longer ships)."""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fada.errors import InputError

PACKAGE = "face_recognition_models"
INSTALL = 'pip install "fada-bench[face]"'


def dlib_model_path(name: str) -> Path:
    """The path of dlib model file `name` (e.g. 'shape_predictor_68_face_landmarks.dat'); a missing
    package or file is an `InputError` naming what is missing and how to install it."""
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"dlib's model files come with the {PACKAGE} package, which is not installed: {INSTALL}")
    folders = [Path(p) / "models" for p in spec.submodule_search_locations]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"dlib model file {name} not found (looked in {', '.join(map(str, folders))}); "
                     f"reinstall it: {INSTALL}")


def import_dlib():
    """The dlib module, or an `InputError` saying how to install it."""
    try:
        import dlib
    except ImportError:
        raise InputError(f"the dlib package is not installed: {INSTALL}") from None
    return dlib
