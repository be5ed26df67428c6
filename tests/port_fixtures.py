"""The port fixtures' format and weight recipe, shared by `scripts/make_port_fixtures.py` (which
runs the reference implementations) and `tests/fada_bench/metrics/backbones/test_ports.py` (which runs our ports).

A fixture `tests/fixtures/ports/NAME.npz` holds small arrays (the input and the reference's
output) and one JSON string, `meta`: the seed, the reference state dict's float keys and shapes in
the reference's order, how the released weight file wraps that state dict, and the reference's
version. The weights themselves are not stored (the FID Inception alone is 92 MB): both sides make
them from the seed with `random_state`, whose numbers depend on nothing but the seed, the key name
and the element index (SplitMix64 in exact 64-bit integer arithmetic), so they are bit-identical
across machines and library versions.
"""
from __future__ import annotations

import json
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ports"
NAMES = ("inception", "i3d", "resnet3d50", "syncnet_v2", "deep3d")
# Agreement asked of a port: max |ours - reference| / max |reference| over the whole output.
REL_TOL = 1e-4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(state: np.ndarray) -> np.ndarray:
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(seed: int, key: str, shape) -> np.ndarray:
    """float64 numbers in [0, 1) for tensor `key`: element i is SplitMix64's (i + 1)-th output
    from the state seed * 2^32 + crc32(key), top 53 bits."""
    n = int(np.prod(shape, dtype=np.int64))
    base = np.uint64((seed << 32) + zlib.crc32(key.encode()))
    with np.errstate(over="ignore"):            # wrap-around is the algorithm
        state = base + (np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN)
        bits = _splitmix64(state) >> np.uint64(11)
    return (bits.astype(np.float64) * 2.0 ** -53).reshape(shape)


def random_tensor(seed: int, key: str, shape) -> torch.Tensor:
    """The fixture value of one float tensor, by its state-dict key. Scales keep activations of
    order one through 20-50 layers, so the output depends on the input, not on the biases alone:
    BatchNorm running variances in [0.5, 1.5), means and biases small, norm scales near 1, and
    conv / linear weights of unit variance times sqrt(2 / fan_in) (He)."""
    shape = tuple(int(s) for s in shape)
    u = uniform(seed, key, shape)
    z = np.sqrt(3.0) * (2.0 * u - 1.0)          # mean 0, variance 1
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        v = 0.5 + u
    elif leaf == "running_mean":
        v = 0.1 * z
    elif len(shape) >= 2:
        v = z * np.sqrt(2.0 / np.prod(shape[1:]))
    elif leaf == "weight":                      # 1-d weights are norm scales in these networks
        v = 1.0 + 0.1 * z
    elif leaf == "bias":
        v = 0.1 * z
    else:
        raise ValueError(f"no recipe for state-dict key {key} of shape {shape}")
    return torch.from_numpy(v.astype(np.float32))


def random_state(seed: int, keys: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """{key: random_tensor} for the (key, shape) pairs of a fixture's `meta['keys']`."""
    return {k: random_tensor(seed, k, shape) for k, shape in keys}


def weight_file(state: dict[str, torch.Tensor], layout: dict) -> dict:
    """Wrap a state dict the way the released file does: `layout` may name an `inner_key`
    ('state_dict', 'net_recon') and a key `prefix` (DataParallel's 'module.')."""
    prefix = layout.get("prefix", "")
    obj = {prefix + k: v for k, v in state.items()}
    return {layout["inner_key"]: obj} if layout.get("inner_key") else obj


def rel_diff(ours, ref) -> float:
    """max |ours - ref| / max |ref| (float64), the measure `REL_TOL` bounds."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        raise AssertionError(f"shapes differ: ours {ours.shape}, reference {ref.shape}")
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def write(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write a fixture atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, meta=np.array(json.dumps(meta, indent=1)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a fixture; no pickles are loaded."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    return arrays, meta


def smooth_frames(t: int, size: int, seed: int, step: float = 0.03, noise: float = 2.0) -> np.ndarray:
    """t x size x size x 3 uint8: a blob moving `step` of the frame per frame over colour gradients,
    with Gaussian noise of `noise` levels (structured input, not white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for i in range(t):
        cx, cy = 0.3 + step * i, 0.5 + 0.1 * np.sin(i / 3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        img = np.stack([0.6 * xx + 0.4 * blob, 0.5 * yy + 0.3 * blob, 0.3 + 0.5 * blob * xx], -1)
        out.append(np.clip(255 * img + rng.normal(0, noise, img.shape), 0, 255))
    return np.stack(out).astype(np.uint8)
