"""The real-world backbones by name, for the metrics and the harness: `build("syncnet_v2")`.

Imports are lazy: building one backbone never imports another's dependencies (mediapipe is slow
to import; insightface is an optional extra).
"""
from __future__ import annotations

import importlib

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
}


def build(name: str, **kwargs):
    """Construct a standard backbone. `kwargs` go to its class (`weights=PATH`, `device=...`)."""
    try:
        module, cls, fixed = STANDARD[name]
    except KeyError:
        raise KeyError(f"unknown standard backbone '{name}'; known: {', '.join(STANDARD)}") from None
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)(**fixed, **kwargs)
