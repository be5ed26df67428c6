"""Our ports on the published weight files, where CI has neither the files nor torchvision.

CI checks every port against its reference on seeded random weights (`test_backbone_ports.py`,
fixtures made by `scripts/make_port_fixtures.py`). Two checks need more than CI has, and are
skipped where what they need is absent:
- Inception against pytorch-fid itself, which builds on torchvision's Inception3. CI's fixture
  uses torch-fidelity's copy of the same network at 299 px; this also covers pytorch-fid's resize
  of other sizes, on the published file.
- the TorchScript I3D (`i3d_tfhub`, StyleGAN-V's archive, not a port) against a direct call.

To run them, on a machine with the files and a working torchvision:

    python -m venv /tmp/refvenv && . /tmp/refvenv/bin/activate
    pip install torch torchvision            # a matching pair for that machine
    pip install --no-deps pytorch-fid
    pip install --no-deps -e /path/to/fada-bench && pip install numpy scipy pillow opencv-python \\
        python-speech-features av soundfile torchmetrics pytest pyyaml einops requests tqdm
    FADA_BENCH_WEIGHTS=/path/to/weights python -m pytest tests/fada_bench/metrics/backbones/test_reference.py -v

Each test feeds the same uint8 frames to both sides and compares the features row by row:
|ours - reference| / |reference| < 1%.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from fada_bench.weight_files import standard as wr
from port_fixtures import smooth_frames

TOL = 0.01


def _weights(name):
    s = wr.verify(name)
    if s.state != "present":
        pytest.skip(f"{wr.ENTRIES[name].filename} not found ({s.state})")
    return s.path


def _import(name):
    try:
        return importlib.import_module(name)
    except Exception as e:       # absent, or torchvision broken in this venv
        pytest.skip(f"{name} does not import ({type(e).__name__}: {e})")


def _frames(t=16, size=128, seed=0):
    """Smooth, structured frames (a moving blob over a gradient), not white noise."""
    return smooth_frames(t, size, seed, step=0.02, noise=3.0)


def _close(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape
    rel = np.linalg.norm(ours - ref, axis=-1) / np.linalg.norm(ref, axis=-1)
    assert rel.max() < TOL, rel


def test_inception_matches_pytorch_fid():
    path = _weights("fid_inception")
    pf = _import("pytorch_fid.inception")
    from fada_bench.metrics.backbones.standard.inception import InceptionEmbedder
    # pytorch-fid fetches its file through load_state_dict_from_url; hand it the local one
    pf.load_state_dict_from_url = lambda *a, **k: torch.load(path, map_location="cpu", weights_only=True)
    ref = pf.InceptionV3([3]).eval()
    frames = _frames(4, 160)
    with torch.no_grad():
        want = ref(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)[0].flatten(1).numpy()
    _close(InceptionEmbedder(path).embed_frames(frames), want)


def test_i3d_torchscript_wrapper_matches_a_direct_call():
    path = _weights("i3d_torchscript")
    from fada_bench.metrics.backbones.standard.i3d import I3DEmbedder, preprocess_clips
    frames = _frames(16, 128)
    det = torch.jit.load(str(path)).eval()
    with torch.no_grad():
        want = det(preprocess_clips(frames[None]), rescale=False, resize=False, return_features=True).numpy()
    _close(I3DEmbedder(path, torchscript=True).embed_clips(frames), want)
