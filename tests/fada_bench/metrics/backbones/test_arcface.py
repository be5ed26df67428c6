"""csim[arcface] without the optional `arcface` extra: one clear error naming the extra."""
from __future__ import annotations

import importlib.util

import pytest

from fada.errors import InputError
from fada_bench.metrics.backbones.standard.arcface import ArcFaceIdentity


@pytest.mark.skipif(importlib.util.find_spec("insightface") is not None
                    and importlib.util.find_spec("onnxruntime") is not None,
                    reason="the arcface extra is installed")
def test_missing_extra_names_it():
    with pytest.raises(InputError, match=r'pip install "fada-bench\[arcface\]"'):
        ArcFaceIdentity()
