"""Run the reference implementations of the ported backbones on seeded random weights and write
the fixtures that `tests/fada_bench/metrics/backbones/test_ports.py` checks our ports against.

    python scripts/make_port_fixtures.py --out tests/fixtures/ports \\
        --syncnet-src SYNCNET_PYTHON_CHECKOUT --disco-src DISCO_CHECKOUT --deep3d-src DEEP3D_CHECKOUT

References, each imported from an installed package or from a source checkout you name, never
copied into this repository (install the packages with `pip install --no-deps NAME`: none of the
modules used here needs torchvision):
- inception:  torch-fidelity's `FeatureExtractorInceptionV3` (module
  `torch_fidelity.feature_extractor_inceptionv3`, imported without the package's `__init__`, which
  pulls in torchvision). pytorch-fid itself builds on torchvision's Inception3 and is not used.
- i3d:        cd-fvd's `InceptionI3d` and `preprocess_i3d` (`cdfvd.third_party.i3d`).
- resnet3d50: DisCo's `tool/metrics/resnet3d.py` (`resnet50(..., last_fc=False)`) and the resizer
  of `tool/metrics/resize.py`, from `--disco-src`.
- syncnet_v2: syncnet_python's `SyncNetModel.S`, from `--syncnet-src` (a checkout of the original
  repository) or else the `syncnet-python` package.
- deep3d:     Deep3DFaceRecon_pytorch's `models/networks.py` `ReconNetWrapper('resnet50')` and
  `util/preprocess.py` `align_img`'s `POS` and `resize_n_crop_img`, from `--deep3d-src`. networks.py also imports `.arcface_torch`
  (not in that repository) and kornia for its face-recognition network, preprocess.py scikit-image
  for another function; where they are absent, empty stand-ins are put under those names, as
  neither `ReconNetWrapper` nor `align_img` uses them.

Each fixture is written on its own: a reference that cannot be imported is reported and skipped.
The weights are `tests/port_fixtures.random_state(seed, keys)` over the reference's own state-dict
keys, so the test rebuilds them from the seed (see that module).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import platform
import subprocess
import sys
import tempfile
import types
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import port_fixtures as pf  # noqa: E402  (tests/ joins the path first)


class Unavailable(Exception):
    """The reference cannot be built here; the message says why."""


# --------------------------------------------------------------------------- importing references
def _import_skipping_init(package: str, module: str):
    """Import `package.module` without running `package/__init__.py` (torch-fidelity's and
    syncnet-python's import torchvision or ffmpeg, which the network modules do not need)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"the {package} package is not installed")
    if package not in sys.modules:
        shell = types.ModuleType(package)
        shell.__path__ = list(spec.submodule_search_locations)
        sys.modules[package] = shell
    try:
        return importlib.import_module(f"{package}.{module}")
    except ImportError as e:
        raise Unavailable(f"{package}.{module} does not import: {e}") from None


def _load_file(name: str, path: Path, package: str | None = None):
    """Import one source file by path as module `name` (inside `package` if given)."""
    if not path.is_file():
        raise Unavailable(f"{path} not found")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    if package:
        mod.__package__ = package
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except ImportError as e:
        del sys.modules[name]
        raise Unavailable(f"{path} does not import: {e}") from None
    return mod


def _package_version(dist: str) -> str:
    return f"{dist} {importlib.metadata.version(dist)}"


def _source_version(root: Path, files: list[Path]) -> dict:
    """The checkout's commit (if it is a git checkout) and the sha256 of each file used."""
    from fada.hashing import sha256_file

    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return {"commit": commit,
            "sha256": {str(f.relative_to(root)): sha256_file(f) for f in files}}


# ------------------------------------------------------------------------------------ helpers
def float_keys(net: torch.nn.Module) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in net.state_dict().items() if v.is_floating_point()]


def seeded(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The reference's full state dict with every float tensor replaced by the fixture recipe
    (integer buffers such as BatchNorm's step counter keep the reference's own values)."""
    state = net.state_dict()
    state.update(pf.random_state(seed, float_keys(net)))
    return state


@contextlib.contextmanager
def _no_weight_loading():
    # torch-fidelity loads its weights inside __init__; building it once without them gives its
    # own key list, from which the fixture weights are made.
    orig = torch.nn.Module.load_state_dict
    torch.nn.Module.load_state_dict = lambda self, *a, **k: None
    try:
        yield
    finally:
        torch.nn.Module.load_state_dict = orig


# ----------------------------------------------------------------------------- the references
def inception(seed: int, args) -> tuple[dict, dict]:
    tfi = _import_skipping_init("torch_fidelity", "feature_extractor_inceptionv3")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pth"
        torch.save({}, path)
        with _no_weight_loading():
            keys = float_keys(tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                              feature_extractor_weights_path=str(path)))
        torch.save(pf.random_state(seed, keys), path)
        ref = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                              feature_extractor_weights_path=str(path))
    image = pf.smooth_frames(1, 299, seed)           # 299 px: torch-fidelity's TF-style resize is idle
    with torch.no_grad():
        out = ref(torch.from_numpy(image).permute(0, 3, 1, 2).contiguous())[0]
    meta = {"reference": _package_version("torch-fidelity"),
            "what": "FeatureExtractorInceptionV3('inception-v3-compat', ['2048']) on a uint8 "
                    "299 x 299 image: its (x - 128) / 128 scaling, then the network; pool3 features",
            "layout": {}}
    return {"input": image, "output": out.numpy()}, {"keys": keys, **meta}


def i3d(seed: int, args) -> tuple[dict, dict]:
    try:
        ref_i3d = importlib.import_module("cdfvd.third_party.i3d.pytorch_i3d")
        ref_utils = importlib.import_module("cdfvd.third_party.i3d.utils")
    except ImportError as e:
        raise Unavailable(f"cd-fvd does not import: {e}") from None
    net = ref_i3d.InceptionI3d(400, in_channels=3)
    net.load_state_dict(seeded(net, seed))       # as utils.load_i3d_model loads its file
    clip = pf.smooth_frames(16, 64, seed)            # preprocess_i3d resizes to 224 x 224
    with torch.no_grad():
        out = net.eval()(ref_utils.preprocess_i3d(clip[None]))
    meta = {"reference": _package_version("cd-fvd"),
            "what": "preprocess_i3d (bilinear to 224 x 224, [-1, 1]) then InceptionI3d(400) in eval "
                    "mode on one 16 x 64 x 64 uint8 clip: the 400 logits averaged over time",
            "layout": {}}
    return {"input": clip, "output": out.numpy()}, {"keys": float_keys(net), **meta}


def resnet3d50(seed: int, args) -> tuple[dict, dict]:
    if not args.disco_src:
        raise Unavailable("pass --disco-src, a checkout of DisCo (not on PyPI)")
    root = Path(args.disco_src)
    files = [root / "tool/metrics/resnet3d.py", root / "tool/metrics/resize.py"]
    resnet3d = _load_file("disco_resnet3d", files[0])
    resize = _load_file("disco_resize", files[1])
    net = resnet3d.resnet50(num_classes=400, shortcut_type="B", sample_size=112, sample_duration=16,
                            last_fc=False)
    net.load_state_dict(seeded(net, seed))
    frames = pf.smooth_frames(20, 48, seed)          # 20 frames: the tail clip is padded
    # DatasetFVDVideoResize.__getitem__ (tool/metrics/utils.py, mode 'FVD-3DRN50'), whose module
    # cannot be imported without torchvision and ffmpeg-python: its resizer, then these steps.
    fn_resize = resize.make_resizer("PIL", False, "bicubic", (112, 112))
    video = torch.as_tensor(np.stack([fn_resize(f) for f in frames]).copy()).float()
    pad = 16 - video.shape[0] % 16
    video = torch.cat([video, video[[-1]].repeat(pad, 1, 1, 1)])
    video = video - torch.as_tensor(np.array([114.7748, 107.7354, 99.4750]))
    video = video.view(-1, 16, 112, 112, 3).contiguous().permute(0, 4, 1, 2, 3).float()
    with torch.no_grad():
        out = net.eval()(video)
    meta = {"reference": {"repository": "DisCo", **_source_version(root, files)},
            "what": "DisCo's FVD-3DRN50: PIL bicubic float resize to 112, pixel mean subtracted, "
                    "tail clip padded with the last frame, then resnet50(shortcut B, last_fc=False) "
                    "on a 20 x 48 x 48 uint8 video: 2048-d features of its two 16-frame clips",
            "layout": {"inner_key": "state_dict", "prefix": "module."}}
    return {"input": frames, "output": out.numpy()}, {"keys": float_keys(net), **meta}


def syncnet_v2(seed: int, args) -> tuple[dict, dict]:
    if args.syncnet_src:
        root = Path(args.syncnet_src)
        model = _load_file("syncnet_reference_model", root / "SyncNetModel.py")
        reference = {"repository": "syncnet_python", **_source_version(root, [root / "SyncNetModel.py"])}
    else:
        model = _import_skipping_init("syncnet_python", "SyncNetModel")
        reference = _package_version("syncnet-python")
    net = model.S(num_layers_in_fc_layers=1024)
    state = seeded(net, seed)
    own = net.state_dict()
    for name, param in state.items():             # SyncNetInstance.loadParameters copies by name
        own[name].copy_(param)
    net.eval()
    frames = pf.smooth_frames(8, 224, seed)          # 224 x 224 face crops, RGB
    rng = np.random.default_rng(seed)
    audio = np.round(rng.normal(0, 3000, 8 * 640)).clip(-32768, 32767).astype(np.int16)
    # SyncNetInstance.evaluate, after its ffmpeg steps: BGR frames (cv2.imread's order) stacked to
    # 1 x 3 x T x H x W, MFCC of the int16 samples, one window per frame up to min_length - 5.
    import python_speech_features
    im = np.transpose(np.expand_dims(np.stack(list(frames[..., ::-1]), axis=3), 0), (0, 3, 4, 1, 2))
    imtv = torch.from_numpy(im.astype(float)).float()
    mfcc = np.stack([np.array(i) for i in zip(*python_speech_features.mfcc(audio, 16000))])
    cct = torch.from_numpy(np.expand_dims(np.expand_dims(mfcc, 0), 0).astype(float)).float()
    lastframe = min(len(frames), len(audio) // 640) - 5
    with torch.no_grad():
        lip = net.forward_lip(torch.cat([imtv[:, :, v:v + 5] for v in range(lastframe)]))
        aud = net.forward_aud(torch.cat([cct[:, :, :, v * 4:v * 4 + 20] for v in range(lastframe)]))
    meta = {"reference": reference,
            "what": "S(1024) in eval mode on 8 RGB 224 x 224 frames and 0.32 s of 16 kHz int16 "
                    "audio, assembled as SyncNetInstance.evaluate does (BGR, MFCC windows of 20): "
                    "forward_lip and forward_aud for the 3 windows evaluate scores",
            "layout": {}}
    return ({"input": frames, "audio": audio, "output": lip.numpy(), "output_audio": aud.numpy()},
            {"keys": float_keys(net), **meta})


def _stand_in(name: str, **attrs) -> bool:
    """Register an empty module `name` (and its parents) holding `attrs`, unless it imports.
    True if a stand-in was put there."""
    try:
        if importlib.util.find_spec(name) is not None:
            return False
    except ImportError:          # a parent is missing
        pass
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    for i in range(1, len(parts)):
        setattr(sys.modules[".".join(parts[:i])], parts[i], sys.modules[".".join(parts[:i + 1])])
    for k, v in attrs.items():
        setattr(sys.modules[name], k, v)
    return True


def _face_points(width: int, height: int, seed: int) -> np.ndarray:
    """Five face points (pixels, y down, float32 on a quarter-pixel grid so that the reference's
    float32 y flip is exact): the template, scaled, turned by 6 degrees and moved off-centre."""
    from fada_bench.metrics.backbones.standard.deep3d import TEMPLATE_5P
    rng = np.random.default_rng(seed)
    a = np.deg2rad(6.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    xy = TEMPLATE_5P[:, :2] @ rot.T * 70.0 + rng.normal(0, 1.0, (5, 2))
    pts = np.c_[0.55 * width + xy[:, 0], 0.5 * height - xy[:, 1]]
    return (np.round(pts * 4) / 4).astype(np.float32)


def deep3d(seed: int, args) -> tuple[dict, dict]:
    if not args.deep3d_src:
        raise Unavailable("pass --deep3d-src, a checkout of Deep3DFaceRecon_pytorch (not on PyPI)")
    root = Path(args.deep3d_src)
    networks_py, preprocess_py = root / "models" / "networks.py", root / "util" / "preprocess.py"
    for f in (networks_py, preprocess_py):
        if not f.is_file():
            raise Unavailable(f"{f} not found")
    package = "deep3d_reference_models"
    shell = types.ModuleType(package)
    shell.__path__ = [str(root / "models")]
    sys.modules[package] = shell
    # networks.py imports these for its face-recognition network, preprocess.py this for
    # estimate_norm; ReconNetWrapper and align_img use none of them
    stand_ins = [name for name, attrs in ((f"{package}.arcface_torch.backbones", {"get_model": None}),
                                          ("kornia.geometry", {"warp_affine": None}),
                                          ("skimage.transform", {}))
                 if _stand_in(name, **attrs)]
    networks = _load_file(f"{package}.networks", networks_py, package)
    preprocess = _load_file("deep3d_reference_preprocess", preprocess_py)

    net = networks.ReconNetWrapper("resnet50", use_last_fc=False)
    net.load_state_dict(seeded(net, seed))        # as BaseModel.load_networks loads 'net_recon'
    crop = pf.smooth_frames(1, 224, seed)[0]
    # test.py read_data: a 224 x 224 RGB crop scaled to [0, 1]
    x = torch.tensor(np.array(crop) / 255., dtype=torch.float32).permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        out = net.eval()(x)

    # the alignment, on a 160 x 128 frame with five points; lm3D is our TEMPLATE_5P (the
    # reference computes it from BFM/similarity_Lm3D_all.mat, which the repository does not ship)
    from fada_bench.metrics.backbones.standard.deep3d import TEMPLATE_5P
    frame = pf.smooth_frames(1, 160, seed + 1)[0][:128]
    points = _face_points(160, 128, seed)
    lm = points.copy()
    lm[:, -1] = 128 - 1 - lm[:, -1]               # test.py read_data: y up
    # align_img's own body: its last line (np.array of scalars and 1-element arrays) fails with
    # numpy >= 1.24, so its two calls are made here as it makes them
    t, s = preprocess.POS(lm.transpose(), TEMPLATE_5P.transpose())
    aligned, _, _ = preprocess.resize_n_crop_img(Image.fromarray(frame), lm, t, 102.0 / s, target_size=224.)
    meta = {"reference": {"repository": "Deep3DFaceRecon_pytorch",
                          **_source_version(root, [networks_py, preprocess_py]), "stand_ins": stand_ins},
            "what": "ReconNetWrapper('resnet50', use_last_fc=False) in eval mode on one 224 x 224 "
                    "RGB crop in [0, 1]: the 257 coefficients (input, output); util/preprocess.py "
                    "align_img (POS, then resize_n_crop_img) on a 128 x 160 frame with five points (y down; flipped as test.py "
                    "does) and lm3D = our TEMPLATE_5P: the 224 x 224 crop (align_*)",
            "layout": {"inner_key": "net_recon"}}
    arrays = {"input": crop, "output": out.numpy(), "align_frame": frame, "align_points": points,
              "align_crop": np.asarray(aligned)}
    return arrays, {"keys": float_keys(net), **meta}


BUILDERS = {"inception": inception, "i3d": i3d, "resnet3d50": resnet3d50, "syncnet_v2": syncnet_v2,
            "deep3d": deep3d}
assert tuple(BUILDERS) == pf.NAMES


def make(name: str, seed: int, out: Path, args) -> Path:
    arrays, meta = BUILDERS[name](seed, args)
    meta = {"name": name, "seed": seed, "recipe": "tests/port_fixtures.py random_state", **meta,
            "made_with": {"torch": torch.__version__, "numpy": np.__version__,
                          "python": platform.python_version(),
                          "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}}
    for key, value in arrays.items():
        if value.dtype.kind == "f":
            spread = float(np.std(value) / np.abs(value).max())
            if not spread > 1e-3:   # a constant output would let any port pass
                raise RuntimeError(f"{name}: the reference's {key} is nearly constant ({spread:.1e})")
    path = out / f"{name}.npz"
    pf.write(path, arrays, meta)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\nReferences")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for NAME.npz (tests/fixtures/ports)")
    p.add_argument("--only", default=",".join(pf.NAMES), help=f"comma-separated subset of {','.join(pf.NAMES)}")
    p.add_argument("--seed", type=int, default=0, help="weight and input seed (default 0)")
    p.add_argument("--syncnet-src", help="checkout of syncnet_python (else the syncnet-python package)")
    p.add_argument("--disco-src", help="checkout of DisCo (for resnet3d50)")
    p.add_argument("--deep3d-src", help="checkout of Deep3DFaceRecon_pytorch (for deep3d)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(pf.NAMES))
    if unknown:
        p.error(f"unknown backbone(s) {', '.join(unknown)}; known: {', '.join(pf.NAMES)}")
    torch.set_grad_enabled(False)
    written = 0
    for name in names:
        try:
            path = make(name, args.seed, args.out, args)
        except Unavailable as e:
            print(f"{name}: skipped: {e}")
            continue
        written += 1
        print(f"{name}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0 if written == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
