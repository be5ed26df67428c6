"""The synthetic world's networks behind the backbone protocols (`fada_bench.metrics.backbones`),
one loaded instance per process, so the metrics that share a network share its cache too."""
from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
import torch

from fada.data.synthetic.params import IDENTITY_DIM
from fada.data.synthetic.render import face_landmarks
from fada.errors import InputError

from ....weight_files.synthetic import weights_available
from ...backbone_metric import content_digest
# syncnet_python's audio side (int16-scale MFCC, 20-step windows), one implementation for both SyncNets
from ..standard.syncnet import audio_windows as syncnet_audio_windows
from .networks import InverseRendererNet, QualityNet, SyncNetSmall, VideoFeatureNet, load_network
from .preprocessing import (CLIP_LEN, EYE_POINTS, IQA_SIZE, MOUTH_POINTS, SYNC_WINDOW, VISIBLE_IDENTITY_IDX,
                            centre_mouth, images_to_tensor, mouth_crops, video_windows)

BACKBONE_NAME = "synthetic"


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
