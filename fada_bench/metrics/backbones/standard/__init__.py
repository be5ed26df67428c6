"""The real-world backbones by name, for the metrics and the harness: `build("syncnet_v2")`.

Imports are lazy: building one backbone never imports another's dependencies (mediapipe is slow
to import; dlib, insightface and pyiqa are optional extras).
"""
from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

# backbone name -> (module of this package, class, fixed keyword arguments)
STANDARD = {
    "inception": ("inception", "InceptionEmbedder", {}),
    "i3d": ("i3d", "I3DEmbedder", {}),
    "i3d_tfhub": ("i3d", "I3DEmbedder", {"torchscript": True}),
    "resnet3d50": ("resnet3d", "ResNet3DEmbedder", {"preset": "resnet3d50"}),
    "resnet3d50_k700": ("resnet3d", "ResNet3DEmbedder", {"preset": "resnet3d50_k700"}),
    "syncnet_v2": ("syncnet", "SyncNetBackbone", {}),
    "niqe-skimage": ("classical_iqa", "NIQEScorer", {}),
    "mediapipe": ("mediapipe_expr", "MediapipeExpression", {}),
    "arcface": ("arcface", "ArcFaceIdentity", {}),
    "dlib": ("dlib_face", "DlibIdentity", {}),
    "dlib68": ("dlib_landmarks", "DlibLandmarks", {}),        # lmd[dlib], mlmd[dlib]
    "deep3d": ("deep3d", "Deep3DExpression", {}),
    "qalign-pyiqa": ("qalign", "QAlignScorer", {}),
}


# What each backbone needs besides our code: (weights-registry entry or None, packages to import).
# A backbone module may also define `available()` for a check of its own (qalign's folder).
NEEDS = {
    "inception": ("fid_inception", ()),
    "i3d": ("i3d_400", ()),
    "i3d_tfhub": ("i3d_torchscript", ()),
    "resnet3d50": ("resnet3d50_kinetics400", ()),
    "resnet3d50_k700": ("resnet3d50_kinetics700", ()),
    "syncnet_v2": ("syncnet_v2", ()),
    "niqe-skimage": (None, ()),
    "mediapipe": (None, ("mediapipe",)),
    "arcface": ("arcface_buffalo_l", ("insightface", "onnxruntime")),
    "dlib": (None, ("dlib", "face_recognition_models")),      # its model files ship in the package
    "dlib68": (None, ("dlib", "face_recognition_models")),
    "deep3d": ("deep3d_epoch20", ("mediapipe",)),
    "qalign-pyiqa": (None, ()),
}


def available(name: str) -> tuple[bool, str]:
    """Whether standard backbone `name` can be built here (its packages import, its weight file is
    found and matches its checksum), without building or importing anything heavy."""
    from importlib.util import find_spec

    from ....weight_files import standard as weights_registry

    weights, packages = NEEDS[name]
    for pkg in packages:
        if find_spec(pkg) is None:
            return False, f"the {pkg} package is not installed"
    if weights is not None:
        st = weights_registry.verify(weights)
        if st.state != "present":
            return False, (f"{st.entry.filename} not found ({st.detail}); "
                           f"see `fada-bench weights list --kind standard`" if st.state == "missing"
                           else f"{st.path}: {st.detail}")
    own = getattr(importlib.import_module(f"{__package__}.{STANDARD[name][0]}"), "available", None)
    return own() if own is not None else (True, "")


def build(name: str, **kwargs):
    """Construct a standard backbone. `kwargs` go to its class (`weights=PATH`, `device=...`)."""
    try:
        module, cls, fixed = STANDARD[name]
    except KeyError:
        raise KeyError(f"unknown standard backbone '{name}'; known: {', '.join(STANDARD)}") from None
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(**fixed, **kwargs)


@functools.lru_cache(maxsize=None)
def factory(name: str) -> Callable[[], Any]:
    """A metric's default-backbone factory for standard backbone `name` (see `register_bound`):
    builds it once per process, shared by every metric bound to that name (E-FID and LMD read one
    face mesh); `factory.available()` is `available(name)`."""
    @functools.lru_cache(maxsize=1)
    def load():
        return build(name)

    load.available = functools.partial(available, name)
    load.__name__ = f"load_standard_{name}"
    return load
