"""The synthetic world's metric backbones: small networks trained on that world by
`fada_bench.metrics.train_backbones` and shipped under fada_bench/weights/synthetic/.

They stand in for the standard backbones where only the synthetic world exists, and their
metric keys say so (`fid[synthetic]`, never `fid[inception]`):

| network            | stands in for                   | serves                                      |
|--------------------|---------------------------------|---------------------------------------------|
| inverse renderer   | 3D face reconstruction, ArcFace | E-FID (expression), FID (penultimate        |
|                    | and Inception                   | features), CSIM (identity)                  |
| video network      | I3D / 3D-ResNet                 | FVD (penultimate features of 16-frame clips: |
|                    |                                 | frame encoder + temporal convolutions)       |
| SyncNet            | SyncNet v2                      | Sync-D, Sync-C, AV offset                   |
| IQA regressor      | Q-Align                         | IQA on the 1-5 scale                        |

Preprocessing lives here and only here: training and scoring call the same functions. Weights are
safetensors, checked against the sha256 in weights/synthetic/registry.json before loading.
"""
from __future__ import annotations

import functools
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fada.data.dataset import _resize
from fada.data.io import check_frames
from fada.data.synthetic.params import EXPRESSION_DIM, IDENTITY_DIM, IDENTITY_FIELDS, LANDMARK_NAMES, POSE_DIM
from fada.data.synthetic.render import face_landmarks
from fada.errors import InputError

from .backbone_metric import content_digest
# syncnet_python's audio side (int16-scale MFCC, 20-step windows), one implementation for both SyncNets
from .backbones.standard.syncnet import audio_windows as syncnet_audio_windows
from fada.hashing import sha256_file

from .weights_registry import WeightsError

BACKBONE_NAME = "synthetic"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "synthetic"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"
REBUILD_COMMAND = "python -m fada_bench.metrics.train_backbones"

# The voice's pitch is an identity parameter that no image shows.
VISIBLE_IDENTITY = tuple(f for f in IDENTITY_FIELDS if f != "voice_f0")
VISIBLE_IDENTITY_IDX = np.array([IDENTITY_FIELDS.index(f) for f in VISIBLE_IDENTITY])
# The world's landmarks (`LANDMARK_NAMES`) that the paired landmark distances align by and the mouth's.
EYE_POINTS = ((LANDMARK_NAMES.index("eye_l"),), (LANDMARK_NAMES.index("eye_r"),))
MOUTH_POINTS = tuple(LANDMARK_NAMES.index(n) for n in ("mouth_l", "mouth_r", "mouth_top", "mouth_bottom"))
DEGRADATIONS = ("blur", "noise", "compression")

CLIP_LEN = 16         # frames per FVD clip, as I3D and the 3D-ResNets
IQA_SIZE = 128        # the IQA regressor sees the suite's full resolution, where blur and noise live
SYNC_WINDOW = 5       # video frames per SyncNet window
# Mouth region of a face-cropped frame (top, bottom, left, right as fractions), cut with a margin
# and resized to MOUTH_PAD; scoring takes the centre MOUTH_HW, training a jittered crop of it.
MOUTH_BOX = (0.52, 0.80, 0.29, 0.71)
MOUTH_PAD = (36, 52)
MOUTH_HW = (32, 48)


# ============================================================================ preprocessing

def images_to_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 T x H x W x 3 -> float N x 3 x size x size in [-1, 1] (area resize when shrinking)."""
    frames = _resize(check_frames(frames), size)
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def mouth_crops(frames: np.ndarray) -> np.ndarray:
    """uint8 T x H x W x 3 face-cropped frames -> uint8 T x MOUTH_PAD grey mouth regions."""
    import cv2

    check_frames(frames)
    h, w = frames.shape[1:3]
    t, b, l, r = MOUTH_BOX
    box = frames[:, int(round(t * h)):int(round(b * h)), int(round(l * w)):int(round(r * w))]
    out = np.empty((frames.shape[0], *MOUTH_PAD), dtype=np.uint8)
    for i, f in enumerate(box):
        g = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
        out[i] = cv2.resize(g, (MOUTH_PAD[1], MOUTH_PAD[0]), interpolation=cv2.INTER_AREA)
    return out


def centre_mouth(crops: np.ndarray) -> np.ndarray:
    dy, dx = (MOUTH_PAD[0] - MOUTH_HW[0]) // 2, (MOUTH_PAD[1] - MOUTH_HW[1]) // 2
    return crops[:, dy:dy + MOUTH_HW[0], dx:dx + MOUTH_HW[1]]


def video_windows(crops: np.ndarray) -> torch.Tensor:
    """T x h x w uint8 crops -> (T - 4) x 5 x h x w float windows (frames t..t+4 as channels)."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).float().div_(127.5).sub_(1.0)
    n = x.shape[0] - SYNC_WINDOW + 1
    idx = torch.arange(n)[:, None] + torch.arange(SYNC_WINDOW)[None, :]
    return x[idx]


# ============================================================================ networks

def _conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2 if k % 2 else (k - s) // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InverseRendererNet(nn.Module):
    """Frame (`input_size` px, 64 or 128) -> identity (visible fields), expression, pose and
    degradation, each standardised by the training set's statistics (buffers `target_mean`,
    `target_std`). At 128 px a stride-2 stem brings the frame to the 64 px trunk: the mouth's
    width and the brows move by a pixel or two, which 64 px barely resolves.

    The degradation head (blur, noise and JPEG strength) is there so that the penultimate
    features, which FID[synthetic] uses, change with image quality as Inception's do: trained on
    the parameters alone, the network would learn to ignore blur and noise."""
    n_identity, n_expression, n_pose, n_degradation = len(VISIBLE_IDENTITY), EXPRESSION_DIM, POSE_DIM, len(DEGRADATIONS)
    n_out = n_identity + n_expression + n_pose + n_degradation
    n_features = 256

    def __init__(self, input_size: int = 64):
        super().__init__()
        if input_size not in (64, 128):
            raise ValueError(f"input_size must be 64 or 128, got {input_size}")
        self.input_size = input_size
        stem = [_conv(3, 24, 4, 2), _conv(24, 32, 3, 2)] if input_size == 128 else [_conv(3, 32, 4, 2)]
        self.trunk = nn.Sequential(
            *stem,                                   # 32 px
            _conv(32, 64, 3, 2), _conv(64, 64),      # 16 px
            _conv(64, 128, 3, 2), _conv(128, 128),   # 8 px
            _conv(128, 256, 3, 2),                   # 4 px
            nn.Flatten(),                            # where things are matters (pose): no pooling
            nn.Linear(256 * 16, self.n_features), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.n_features, self.n_out)
        self.register_buffer("target_mean", torch.zeros(self.n_out))
        self.register_buffer("target_std", torch.ones(self.n_out))

    def slices(self) -> dict[str, slice]:
        a = self.n_identity
        b = a + self.n_expression
        c = b + self.n_pose
        return {"identity": slice(0, a), "expression": slice(a, b), "pose": slice(b, c),
                "degradation": slice(c, self.n_out)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.trunk(x)
        return f, self.head(f)


class VideoFeatureNet(nn.Module):
    """16-frame clip -> standardised clip targets (expression and pose at four frames, their
    motion, degradation, background instability, colours); the 128-d penultimate features are
    FVD[synthetic]'s.

    Each frame goes through a frame encoder, a frozen copy of the inverse renderer's trunk that
    ships inside this network's file, then temporal convolutions over the 16 frame features see
    how they change. (A small 3D network trained from scratch here learned colours and head pose
    but not the mouth or image quality within the CPU budget: the per-frame encoder has them.)"""
    n_features = 128

    def __init__(self, n_out: int, input_size: int = 128):
        super().__init__()
        self.input_size = input_size
        self.frames = InverseRendererNet(input_size).trunk
        self.frames.requires_grad_(False)
        w, c = InverseRendererNet.n_features, 192

        def tconv(cin, cout, s):
            return [nn.Conv1d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]

        self.temporal = nn.Sequential(
            *tconv(w, c, 1), *tconv(c, c, 2), *tconv(c, c, 2),      # 16 -> 8 -> 4 steps
            nn.Flatten(), nn.Linear(c * CLIP_LEN // 4, self.n_features), nn.ReLU(inplace=True))
        self.head = nn.Linear(self.n_features, n_out)
        self.register_buffer("target_mean", torch.zeros(n_out))
        self.register_buffer("target_std", torch.ones(n_out))

    def train(self, mode: bool = True):
        super().train(mode)
        self.frames.eval()      # frozen: its BatchNorm statistics are the inverse renderer's
        return self

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S frames -> N x 256."""
        return self.frames(x)

    def clip_forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x 16 x 256 frame features -> (N x 128 clip features, N x n_out outputs)."""
        z = self.temporal(f.transpose(1, 2))
        return z, self.head(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x 16 x 3 x S x S clips -> (clip features, outputs)."""
        n, t = x.shape[:2]
        return self.clip_forward(self.frame_features(x.flatten(0, 1)).reshape(n, t, -1))


class SyncNetSmall(nn.Module):
    """Two towers into one space: 5 grey mouth crops stacked as channels (SyncNet's early fusion)
    and 0.2 s of MFCCs (1 x 13 x 20, standardised per coefficient by the training set's
    statistics). Embeddings are unit vectors, so distances lie in [0, 2]."""
    dim = 128

    def __init__(self):
        super().__init__()
        self.lip = nn.Sequential(
            _conv(SYNC_WINDOW, 48), _conv(48, 64, 3, 2),     # 16 x 24
            _conv(64, 96, 3, 2), _conv(96, 128, 3, 2),       # 4 x 6
            nn.Flatten(), nn.Linear(128 * 4 * 6, 256), nn.ReLU(inplace=True), nn.Linear(256, self.dim))
        self.aud = nn.Sequential(
            _conv(1, 32), _conv(32, 64, 3, 2),               # 7 x 10
            _conv(64, 96, 3, 2),                             # 4 x 5
            nn.Flatten(), nn.Linear(96 * 4 * 5, 256), nn.ReLU(inplace=True), nn.Linear(256, self.dim))
        self.register_buffer("mfcc_mean", torch.zeros(13))
        self.register_buffer("mfcc_std", torch.ones(13))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.lip(x), dim=1)

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mfcc_mean[None, None, :, None]) / self.mfcc_std[None, None, :, None]
        return nn.functional.normalize(self.aud(x), dim=1)


class QualityNet(nn.Module):
    """128 px frame -> quality on the 1-5 scale. Mean and standard deviation pooling of the last
    feature map: degradations are spread over the image, not located."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(_conv(3, 24, 3, 2), _conv(24, 32, 3, 2), _conv(32, 64, 3, 2), _conv(64, 96, 3, 2))
        self.head = nn.Sequential(nn.Linear(192, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.trunk(x).flatten(2)
        z = self.head(torch.cat([f.mean(-1), f.std(-1)], dim=1)).squeeze(1)
        return 1.0 + 4.0 * torch.sigmoid(z)


VIDEO_TARGETS = 63   # see train_backbones.video_targets


def build_network(name: str, config: dict | None = None) -> nn.Module:
    """An untrained backbone; `config` holds its constructor settings, as the registry records them."""
    nets = {"inverse_renderer": InverseRendererNet, "video_features": lambda **kw: VideoFeatureNet(VIDEO_TARGETS, **kw),
            "syncnet": SyncNetSmall, "iqa": QualityNet}
    if name not in nets:
        raise KeyError(f"unknown synthetic backbone {name!r}; known: {', '.join(nets)}")
    return nets[name](**(config or {}))


# ============================================================================ weights

def registry(weights_dir: Path | None = None) -> dict:
    reg_file = Path(weights_dir or WEIGHTS_DIR) / REGISTRY_FILE.name
    if not reg_file.is_file():
        raise WeightsError(f"the synthetic backbones' registry {reg_file.name} is missing from "
                           f"{reg_file.parent}; rebuild the backbones with `{REBUILD_COMMAND}`")
    return json.loads(reg_file.read_text())


def weights_path(name: str, weights_dir: Path | None = None, *, check: bool = True) -> Path:
    """The verified path of backbone `name`'s weights. A missing file, or one whose sha256 differs
    from the registry's, is a `WeightsError` naming the file, where it looked and how to rebuild it."""
    folder = Path(weights_dir or WEIGHTS_DIR)
    reg = registry(folder)
    if name not in reg:
        raise WeightsError(f"{folder / REGISTRY_FILE.name} has no entry for the synthetic backbone {name!r} "
                           f"(it has {', '.join(sorted(reg)) or 'none'}); rebuild with "
                           f"`{REBUILD_COMMAND} --only {name}`")
    entry = reg[name]
    path = folder / entry["file"]
    rebuild = f"rebuild it with `{REBUILD_COMMAND} --only {name}` (or reinstall fada-bench)"
    if not path.is_file():
        raise WeightsError(f"synthetic backbone weights {entry['file']} not found: looked in {folder}; {rebuild}")
    if check:
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise WeightsError(f"synthetic backbone weights {path} are corrupt or stale: sha256 {digest}, "
                               f"{REGISTRY_FILE.name} expects {entry['sha256']}; {rebuild}")
    return path


def load_network(name: str, weights_dir: Path | None = None) -> nn.Module:
    """Build backbone `name`, load its verified weights (safetensors, fp16 on disk), eval mode."""
    from safetensors.torch import load_file

    path = weights_path(name, weights_dir)
    net = build_network(name, registry(weights_dir)[name].get("config"))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit the {type(net).__name__} of this version ({e}); "
                           f"rebuild it with `{REBUILD_COMMAND} --only {name}`") from None
    return net.eval()


def weights_available(name: str) -> tuple[bool, str]:
    try:
        weights_path(name)
    except WeightsError as e:
        return False, str(e)
    return True, ""


# ============================================================================ the protocols

def _batched(fn, x: torch.Tensor, batch: int) -> list:
    with torch.inference_mode():
        outs = [fn(x[i:i + batch]) for i in range(0, x.shape[0], batch)]
    if isinstance(outs[0], tuple):
        return [torch.cat([o[j] for o in outs]) for j in range(len(outs[0]))]
    return [torch.cat(outs)]


class SyntheticInverseRenderer:
    """FrameEmbedder, ExpressionExtractor, IdentityEmbedder and LandmarkDetector in one network:
    FID, E-FID, CSIM and the paired metrics read different outputs of one forward pass, which is
    kept for the last few videos. `recorded(sample)` gives what the world recorded for a sample's
    ground truth, the side of the paired metrics that needs no estimate."""
    name = BACKBONE_NAME
    eye_points, mouth_points = EYE_POINTS, MOUTH_POINTS

    def __init__(self, net: InverseRendererNet, batch: int = 256):
        self.net, self.batch = net.eval(), batch
        self._cache: OrderedDict[str, dict] = OrderedDict()

    def analyse(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        key = content_digest(frames)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        feats, out = _batched(self.net, images_to_tensor(frames, self.net.input_size), self.batch)
        sl = self.net.slices()
        real = out * self.net.target_std + self.net.target_mean
        res = {"features": feats.numpy(), "identity": out[:, sl["identity"]].numpy(),
               "identity_params": real[:, sl["identity"]].numpy(),
               "expression": real[:, sl["expression"]].numpy(), "pose": real[:, sl["pose"]].numpy(),
               "degradation": real[:, sl["degradation"]].numpy()}
        self._cache[key] = res
        if len(self._cache) > 8:
            self._cache.popitem(last=False)
        return res

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        return self.analyse(frames)["features"]

    def expressions(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame expression (jaw open, mouth width, blink, brow) in the world's units."""
        return self.analyse(frames)["expression"]

    def embed_identity(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame identity, standardised per field: a person and their scene, as a vector
        whose cosine similarity is about 0 between unrelated identities."""
        return self.analyse(frames)["identity"]

    def face_landmarks(self, frames: np.ndarray, identity: np.ndarray | None = None) -> np.ndarray:
        """Per-frame landmarks (T x 8 x 2 pixels, `LANDMARK_NAMES`): the world's own landmark
        geometry applied to the expression and pose predicted for each frame, with the face's
        shape from `identity` when it is known (a sample's recorded identity) or else predicted
        per frame too."""
        res = self.analyse(frames)
        if identity is None:
            identity = np.zeros((len(frames), IDENTITY_DIM), np.float32)
            identity[:, VISIBLE_IDENTITY_IDX] = res["identity_params"]   # the voice's pitch places nothing
        else:
            identity = np.broadcast_to(np.asarray(identity, np.float32), (len(frames), IDENTITY_DIM))
        size = frames.shape[1]
        return np.stack([face_landmarks(i, e, p, size)
                         for i, e, p in zip(identity, res["expression"], res["pose"])]).astype(np.float64)

    @staticmethod
    def recorded(sample) -> dict[str, np.ndarray]:
        """The world's record of a sample's ground truth: per-frame `expression` and `landmarks`,
        and the face's `identity`."""
        from fada.data.manifest import load_npz

        path = getattr(sample, "params_path", None)
        if path is None:
            raise InputError(f"sample {sample.id} has no recorded parameters: the synthetic world's paired "
                             "metrics compare with the world's params/ID.npz, which only synthetic suites have")
        try:
            z = load_npz(path)
            return {"expression": np.asarray(z["expression"], np.float64),
                    "landmarks": np.asarray(z["landmarks"], np.float64),
                    "identity": np.asarray(z["identity"], np.float32)}
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{path}: not a readable synthetic-world record with 'expression', 'landmarks' "
                             f"and 'identity' ({type(e).__name__}: {e}); rebuild the suite's cache") from None


class SyntheticVideoNet:
    """ClipEmbedder: consecutive 16-frame clips of the frames given, a tail shorter than a clip dropped."""
    name = BACKBONE_NAME
    clip_len = CLIP_LEN

    def __init__(self, net: VideoFeatureNet, batch: int = 8):
        self.net, self.batch = net.eval(), batch

    def embed_clips(self, frames: np.ndarray) -> np.ndarray:
        n = frames.shape[0] // CLIP_LEN
        if n == 0:
            raise ValueError(f"{frames.shape[0]} frames is shorter than one {CLIP_LEN}-frame clip")
        size = self.net.input_size
        x = images_to_tensor(frames[:n * CLIP_LEN], size).reshape(n, CLIP_LEN, 3, size, size)
        return _batched(self.net, x, self.batch)[0].numpy()


class SyntheticSyncNet:
    """SyncBackbone: mouth windows of face-cropped frames and 0.2 s MFCC windows, unit embeddings."""
    name = BACKBONE_NAME

    def __init__(self, net: SyncNetSmall, batch: int = 256):
        self.net, self.batch = net.eval(), batch

    def embed_video(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape[0] < SYNC_WINDOW:
            raise ValueError(f"{frames.shape[0]} frames is shorter than one {SYNC_WINDOW}-frame window")
        x = video_windows(centre_mouth(mouth_crops(frames)))
        return _batched(self.net.forward_lip, x, self.batch)[0].numpy()

    def embed_audio(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        if n_frames < SYNC_WINDOW:
            raise ValueError(f"{n_frames} frames is shorter than one {SYNC_WINDOW}-frame window")
        x = torch.from_numpy(syncnet_audio_windows(audio, n_frames))
        return _batched(self.net.forward_aud, x, self.batch)[0].numpy()


class SyntheticQualityScorer:
    """QualityScorer on the 1-5 scale, trained on clean (5) against graded blur, noise and JPEG."""
    name = BACKBONE_NAME

    def __init__(self, net: QualityNet, batch: int = 128):
        self.net, self.batch = net.eval(), batch

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        return _batched(self.net, images_to_tensor(frames, IQA_SIZE), self.batch)[0].numpy()


# One instance per process: the metrics that share a network share its cache too.
def _factory(name: str, wrapper):
    @functools.lru_cache(maxsize=1)
    def load():
        return wrapper(load_network(name))
    load.available = lambda: weights_available(name)
    load.__name__ = f"load_synthetic_{name}"
    load.weights = name          # the registry entry whose sha256 a scored row records (rows.py)
    return load


load_inverse_renderer = _factory("inverse_renderer", SyntheticInverseRenderer)
load_video_net = _factory("video_features", SyntheticVideoNet)
load_sync_net = _factory("syncnet", SyntheticSyncNet)
load_quality_scorer = _factory("iqa", SyntheticQualityScorer)
