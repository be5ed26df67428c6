"""The real-world backbones by name, for the metrics and the harness: `build("syncnet_v2")`.

Imports are lazy: building one backbone never imports another's dependencies (mediapipe is slow
to import; insightface and pyiqa are optional extras).
"""
from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

# backbone name -> (module under fada_bench.metrics.backbones, class, fixed keyword arguments)
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
    "deep3d": ("deep3d", "Deep3DExpression", {}),
    "qalign-pyiqa": ("qalign", "QAlignScorer", {}),
}


def build(name: str, **kwargs):
    """Construct a standard backbone. `kwargs` go to its class (`weights=PATH`, `device=...`)."""
    try:
        module, cls, fixed = STANDARD[name]
    except KeyError:
        raise KeyError(f"unknown standard backbone '{name}'; known: {', '.join(STANDARD)}") from None
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(**fixed, **kwargs)


def factory(name: str) -> Callable[[], Any]:
    """A metric's default-backbone factory for standard backbone `name` (see `register_bound`):
    builds it once per process, and `factory.available()` asks the backbone's module whether
    its files (and optional packages) are there, without building anything."""
    module = STANDARD[name][0]

    @functools.lru_cache(maxsize=1)
    def load():
        return build(name)

    def available() -> tuple[bool, str]:
        check = getattr(importlib.import_module(f"{__package__}.{module}"), "available", None)
        return check() if check is not None else (True, "")

    load.available = available
    load.__name__ = f"load_standard_{name}"
    return load
