"""The installed environment follows DESIGN.md's dependency rules."""
import importlib

import pytest


def test_torchvision_is_not_installed():
    # Its only PyPI build for torch 2.13 is CUDA-only; on a CPU machine it breaks transformers.
    with pytest.raises(ImportError):
        importlib.import_module("torchvision")


@pytest.mark.parametrize("name", ["diffusers", "transformers", "accelerate", "mediapipe", "torch", "av", "soundfile"])
def test_heavy_imports_work_on_cpu(name):
    importlib.import_module(name)


def test_diffusers_models_import():
    from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: F401


def test_numpy_below_2_for_mediapipe():
    import numpy

    assert int(numpy.__version__.split(".")[0]) < 2
