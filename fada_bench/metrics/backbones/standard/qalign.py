"""IQA with Q-Align (`iqa[qalign-pyiqa]`): pyiqa's own "qalign" metric, from the user's local copy
of the model, never downloaded.

Q-Align (Wu et al., ICML 2024) scores an image by the probabilities a multimodal LLM gives the five
rating words: softmax over the logits of 'excellent', 'good', 'fair', 'poor', 'bad', weighted by
5..1 (pyiqa `archs/q_align/modeling_mplug_owl2.py`, `score`). So a score lies on Q-Align's 1-5
scale (pyiqa's DEFAULT_CONFIGS['qalign']: score_range '1, 5', metric_mode 'NR'), higher is better.

pyiqa is the optional `iqa` extra: it declares torchvision, which the core must never pull in, so
it is imported only here and only when this backbone is built.

Where the weights come from. pyiqa's QAlign (`archs/qalign_arch.py`) takes no model path: it loads
the Hugging Face name `q-future/one-align` for the model and its CLIP image processor, and the
model's constructor loads its tokenizer by the same name. transformers treats a name that is an
existing directory as that local folder and does not consult the Hub for it (a file missing there
is an error, not a download). So while pyiqa builds the metric, we run it in a private temporary
working directory where `q-future/one-align` is a symbolic link to the user's folder, with the
Hub's offline switches set as well. Everything is loaded inside that window; scoring reads no file.
A folder that is missing or incomplete is refused before pyiqa is called.

Input layout: pyiqa takes N x 3 x H x W float RGB in [0, 1]; its QAlign asserts N = 1, so frames
are scored one at a time.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from fada.data.io import check_frames
from fada.errors import InputError

from ....weight_files import standard as weights_registry

WEIGHTS = "qalign_one_align"
HUB_NAME = "q-future/one-align"      # the name pyiqa's QAlign loads, fixed in its source
PYIQA_METRIC = "qalign"
# What the folder must hold for pyiqa's loads (model config and weights, image processor, tokenizer).
REQUIRED_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
INSTALL_ADVICE = ("pyiqa is the optional 'iqa' extra and declares torchvision, so install it with "
                  "`pip install --no-deps pyiqa` into an environment that has a working torchvision "
                  "(see the 'iqa' extra in pyproject.toml), or use iqa[niqe-skimage], which needs neither")


def _how_to_get() -> str:
    return weights_registry.entry(WEIGHTS).how_to_get


def missing_files(folder: Path) -> list[str]:
    """The files pyiqa will load that `folder` lacks (one weight file of any shard layout counts)."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any(any(folder.glob(p)) for p in WEIGHT_PATTERNS):
        missing.append("model weights (" + " or ".join(WEIGHT_PATTERNS) + ")")
    return missing


def model_folder(path: str | os.PathLike | None = None) -> Path:
    """The user's copy of q-future/one-align: `path` itself when it holds config.json, else where
    `weights_registry.find` looks (a one-align/ folder). Missing or incomplete: `InputError`."""
    given = Path(path).expanduser() if path is not None else None
    if given is not None and (given / "config.json").is_file():
        folder = given
    else:
        folder = weights_registry.find(WEIGHTS, path).parent
    missing = missing_files(folder)
    if missing:
        raise InputError(f"{folder}: not a complete local copy of {HUB_NAME} (missing {', '.join(missing)}); "
                         f"pyiqa would download what is missing, which the benchmark never does. "
                         f"Get the whole folder: {_how_to_get()}")
    return folder


def import_pyiqa():
    """pyiqa, or an `InputError` saying how to install it (or what it lacks)."""
    if importlib.util.find_spec("pyiqa") is None:
        raise InputError(f"iqa[qalign-pyiqa] needs pyiqa, which is not installed: {INSTALL_ADVICE}")
    try:
        import pyiqa
    except ImportError as e:      # typically torchvision, absent or a build that cannot load here
        raise InputError(f"iqa[qalign-pyiqa]: pyiqa is installed but cannot be imported ({e}); "
                         f"{INSTALL_ADVICE}") from None
    return pyiqa


@contextlib.contextmanager
def hub_name_resolves_to(folder: Path):
    """Within the block, `HUB_NAME` names `folder` (see the module docstring) and the Hub is off.
    The working directory and environment are restored afterwards."""
    old_cwd = os.getcwd()
    old_env = {k: os.environ.get(k) for k in OFFLINE_ENV}
    with tempfile.TemporaryDirectory(prefix="fada-qalign-") as tmp:
        link = Path(tmp, *HUB_NAME.split("/"))
        link.parent.mkdir(parents=True)
        link.symlink_to(folder.resolve(), target_is_directory=True)
        try:
            os.environ.update({k: "1" for k in OFFLINE_ENV})
            os.chdir(tmp)
            yield
        finally:
            os.chdir(old_cwd)
            for k, v in old_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def frame_tensor(frame: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 -> the 1 x 3 x H x W float tensor in [0, 1] that pyiqa's metrics take."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0


def available() -> tuple[bool, str]:
    """Whether `iqa[qalign-pyiqa]` can run, without importing pyiqa (it is slow to import)."""
    if importlib.util.find_spec("pyiqa") is None:
        return False, "pyiqa is not installed (`pip install --no-deps pyiqa`, see the 'iqa' extra)"
    try:
        model_folder()
    except InputError as e:
        return False, str(e)
    return True, ""


class QAlignScorer:
    """QualityScorer `qalign-pyiqa`: Q-Align's score per frame, 1 (bad) to 5 (excellent).

    `model_dir`: the local q-future/one-align folder (default: one-align/ where the weights
    registry looks). `device`: passed to pyiqa (default: pyiqa's choice, CUDA when there is one).
    """
    name = "qalign-pyiqa"
    higher_is_better = True

    def __init__(self, model_dir: str | os.PathLike | None = None, *, device: str | None = None):
        pyiqa = import_pyiqa()
        folder = model_folder(model_dir)
        try:
            with hub_name_resolves_to(folder):
                self.metric = pyiqa.create_metric(PYIQA_METRIC, device=device)
        except OSError as e:      # transformers' error for a file missing from a local folder
            raise InputError(f"{folder}: pyiqa could not load Q-Align from this folder ({e}); "
                             f"get the whole folder: {_how_to_get()}") from None
        self.folder = folder

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        out = np.empty(len(frames))
        # pyiqa's forward switches gradients off for the whole thread (torch.set_grad_enabled);
        # the no_grad block puts the caller's setting back when it ends.
        with torch.no_grad():
            for i, frame in enumerate(frames):
                out[i] = float(torch.as_tensor(self.metric(frame_tensor(frame))).reshape(-1)[0])
        return out
