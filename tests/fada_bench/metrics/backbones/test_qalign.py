"""iqa[qalign-pyiqa]: pyiqa's "qalign" metric built from the user's local q-future/one-align folder,
fed frames the way pyiqa takes them, never downloading; clear errors without pyiqa or the folder.

Most tests put a stand-in `pyiqa` module in sys.modules that records what our wrapper does; the
last ones use the real pyiqa and skip where it is not importable (it needs torchvision, which this
project never installs)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types

import numpy as np
import pytest
import torch

from fada.errors import InputError
from fada_bench.metrics.backbones import QualityScorer
from fada_bench.metrics.backbones.standard import qalign


@pytest.fixture
def dirs(empty_weight_dirs, monkeypatch):
    """Empty weight folders and home, and no Hub settings left over, so nothing real is found."""
    env, home = empty_weight_dirs
    for k in qalign.OFFLINE_ENV:
        monkeypatch.delenv(k, raising=False)
    return env, home


_find_spec = importlib.util.find_spec


def make_model_folder(root):
    """A folder with the files of q-future/one-align's layout (contents are not read by the fake)."""
    folder = root / "one-align"
    folder.mkdir(parents=True)
    for name in (*qalign.REQUIRED_FILES, "tokenizer.model", "pytorch_model-00001-of-00002.bin"):
        (folder / name).write_text("{}")
    return folder


class FakeMetric:
    """What pyiqa's InferenceModel looks like from outside: called on N x 3 x H x W in [0, 1]."""

    def __init__(self):
        self.inputs = []

    def __call__(self, x):
        torch.set_grad_enabled(False)        # as pyiqa's InferenceModel.forward does
        self.inputs.append(x.clone())
        return 1.0 + 4.0 * x.mean(dim=(1, 2, 3))     # a known score per image, on 1..5


@pytest.fixture
def fake_pyiqa(monkeypatch):
    """A stand-in pyiqa whose create_metric records where `q-future/one-align` points at call time."""
    calls = []

    def create_metric(name, as_loss=False, device=None, **kwargs):
        hub = qalign.HUB_NAME
        calls.append({"name": name, "device": device, "kwargs": kwargs,
                      "hub_name_is": os.path.realpath(hub) if os.path.isdir(hub) else None,
                      "offline": {k: os.environ.get(k) for k in qalign.OFFLINE_ENV}})
        metric = FakeMetric()
        calls[-1]["metric"] = metric
        return metric

    mod = types.ModuleType("pyiqa")
    mod.create_metric = create_metric
    mod.__spec__ = importlib.machinery.ModuleSpec("pyiqa", None)
    monkeypatch.setitem(sys.modules, "pyiqa", mod)
    return calls


def test_the_local_folder_is_what_pyiqa_loads_and_nothing_is_left_behind(dirs, fake_pyiqa, tmp_path):
    folder = make_model_folder(tmp_path / "models")
    cwd = os.getcwd()
    scorer = qalign.QAlignScorer(folder, device="cpu")
    assert isinstance(scorer, QualityScorer) and scorer.name == "qalign-pyiqa" and scorer.folder == folder
    (call,) = fake_pyiqa
    assert call["name"] == "qalign" and call["device"] == "cpu" and call["kwargs"] == {}
    assert call["hub_name_is"] == os.path.realpath(folder)            # the name resolves to the folder
    assert all(v == "1" for v in call["offline"].values())            # and the Hub is off meanwhile
    assert os.getcwd() == cwd and not any(os.environ.get(k) for k in qalign.OFFLINE_ENV)


def test_the_folder_is_found_where_the_weights_registry_looks(dirs, fake_pyiqa):
    env, _ = dirs
    folder = make_model_folder(env)
    qalign.QAlignScorer()
    assert fake_pyiqa[0]["hub_name_is"] == os.path.realpath(folder)
    assert qalign.available() == (True, "")


def test_frames_go_in_one_at_a_time_as_float_rgb_in_unit_range(dirs, fake_pyiqa, tmp_path):
    scorer = qalign.QAlignScorer(make_model_folder(tmp_path))
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    frames[1] = 255
    scores = scorer.score_frames(frames)
    seen = fake_pyiqa[0]["metric"].inputs
    assert len(seen) == 3
    for x, f in zip(seen, frames):
        assert x.shape == (1, 3, 8, 10) and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        torch.testing.assert_close(x[0], torch.from_numpy(f).permute(2, 0, 1).float() / 255)   # RGB order kept
    np.testing.assert_allclose(scores, 1 + 4 * frames.reshape(3, -1).mean(1) / 255, rtol=1e-6)
    assert scores.shape == (3,) and scores[1] == pytest.approx(5.0)
    assert torch.is_grad_enabled()            # pyiqa's global switch does not leak out


def test_a_missing_folder_says_what_is_needed_and_where_it_looked(dirs, fake_pyiqa):
    env, home = dirs
    with pytest.raises(InputError) as err:
        qalign.QAlignScorer()
    msg = str(err.value)
    assert "one-align/config.json" in msg and str(env) in msg and str(home / ".cache" / "fada-bench" / "weights") in msg
    assert "q-future/one-align" in msg and "hf download" in msg
    assert fake_pyiqa == []                   # pyiqa never asked: it would have gone to the Hub
    ok, why = qalign.available()
    assert not ok and "one-align" in why


def test_an_incomplete_folder_is_refused_before_pyiqa_would_download(dirs, fake_pyiqa, tmp_path):
    folder = make_model_folder(tmp_path)
    (folder / "pytorch_model-00001-of-00002.bin").unlink()
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(InputError) as err:
        qalign.QAlignScorer(folder)
    msg = str(err.value)
    assert str(folder) in msg and "preprocessor_config.json" in msg and "model weights" in msg
    assert "never" in msg and fake_pyiqa == []


def test_a_load_error_inside_pyiqa_names_the_folder(dirs, fake_pyiqa, tmp_path, monkeypatch):
    def broken(name, **kwargs):
        raise OSError("q-future/one-align does not appear to have a file named tokenizer.model")
    monkeypatch.setattr(sys.modules["pyiqa"], "create_metric", broken)
    folder = make_model_folder(tmp_path)
    cwd = os.getcwd()
    with pytest.raises(InputError, match="could not load Q-Align") as err:
        qalign.QAlignScorer(folder)
    assert str(folder) in str(err.value) and os.getcwd() == cwd


def test_without_pyiqa_the_error_says_how_to_install_it(dirs, monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyiqa" else _find_spec(name, *a))
    with pytest.raises(InputError, match=r"pip install --no-deps pyiqa") as err:
        qalign.QAlignScorer(make_model_folder(tmp_path))
    assert "torchvision" in str(err.value) and "iqa[niqe-skimage]" in str(err.value)
    ok, why = qalign.available()
    assert not ok and "pip install --no-deps pyiqa" in why


def test_pyiqa_that_cannot_import_is_a_clear_error(dirs, monkeypatch, tmp_path):
    # installed, but its import fails (what a CUDA-only torchvision does on a CPU machine)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "pyiqa" else _find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "pyiqa", None)           # `import pyiqa` raises ImportError
    with pytest.raises(InputError, match="installed but cannot be imported.*pip install --no-deps pyiqa"):
        qalign.QAlignScorer(make_model_folder(tmp_path))


def test_iqa_qalign_is_registered_for_the_real_world_only(dirs, fake_pyiqa):
    from fada_bench.registry import METRICS, metric_available
    cls = METRICS.get("iqa[qalign-pyiqa]")
    assert cls.backbone == "qalign-pyiqa" and cls.higher_is_better
    assert not metric_available(cls, "synthetic")[0]
    ok, why = metric_available(cls, "real")
    assert not ok and "one-align" in why
    env, _ = dirs
    make_model_folder(env)
    assert metric_available(cls, "real") == (True, "")


# ------------------------------------------------------------------------------ real pyiqa
def _real_pyiqa():
    try:
        import pyiqa
    except Exception as e:         # not installed, or torchvision cannot load here
        pytest.skip(f"pyiqa is not importable here ({type(e).__name__}: {e})")
    return pyiqa


def test_real_pyiqa_qalign_is_what_we_assume():
    # The wrapper relies on pyiqa's "qalign" being an NR metric on 1..5 whose arch loads the Hub
    # name HUB_NAME (so a local folder under that name is what it loads).
    _real_pyiqa()
    import inspect

    from pyiqa.archs import qalign_arch
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    cfg = DEFAULT_CONFIGS[qalign.PYIQA_METRIC]
    assert cfg["metric_mode"] == "NR" and cfg["metric_opts"]["type"] == "QAlign"
    assert [float(v) for v in str(cfg["score_range"]).split(",")] == [1.0, 5.0]
    assert qalign.HUB_NAME in inspect.getsource(qalign_arch)


def test_real_pyiqa_scores_a_frame_from_the_local_folder():
    # Runs only where a real one-align/ folder is where the weights registry looks.
    _real_pyiqa()
    ok, why = qalign.available()
    if not ok:
        pytest.skip(why)
    s = qalign.QAlignScorer().score_frames(np.full((1, 224, 224, 3), 128, np.uint8))
    assert s.shape == (1,) and 1.0 <= s[0] <= 5.0
