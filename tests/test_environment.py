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


def test_installed_packages_satisfy_the_projects_requirements():
    # pip resolves pyproject's ranges once at install; a later install into the same venv can move
    # a package out of them (numpy 2 breaks mediapipe), so check what is installed now.
    import tomllib
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    wrong = []
    for line in pyproject["project"]["dependencies"]:
        req = Requirement(line)
        try:
            got = version(req.name)
        except PackageNotFoundError:
            got = None
        if got is None or not req.specifier.contains(got, prereleases=True):
            wrong.append(f"{req.name} {got or 'missing'} (wanted {req.specifier})")
    assert not wrong, wrong


def test_numpy_below_2_for_mediapipe():
    import numpy

    assert int(numpy.__version__.split(".")[0]) < 2
