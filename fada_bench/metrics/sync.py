"""Sync-D, Sync-C and the audio-video offset, computed as syncnet_python's
`SyncNetInstance.evaluate` computes LSE-D, LSE-C and the AV offset (Chung & Zisserman 2016,
"Out of time"; the LSE names are Wav2Lip's, Prajwal et al. 2020):

1. min_length = min(video frames, whole 40 ms audio frames); windows start at frames
   0 .. min_length - 6 (syncnet_python's `lastframe = min_length - 5`, exclusive), each 5 video
   frames against the 0.2 s of audio (20 MFCC steps) that starts with the same frame;
2. for each video window i, the Euclidean distance (torch's `pairwise_distance`, eps 1e-6) to
   the audio windows i - vshift .. i + vshift, the audio features zero-padded by vshift at both
   ends (`calc_pdist`);
3. the mean over windows of each offset's distance, mdist (2 vshift + 1 values);
4. LSE-D = min(mdist); LSE-C = median(mdist) - min(mdist); AV offset = vshift - argmin(mdist).

The offset follows syncnet_python's sign: video window i matches audio window i - offset best,
so a positive offset means the audio runs ahead of the picture. (The synthetic world records
`audio_offset` k > 0 when the audio lags, which gives an AV offset of -k.)

The three metrics share one computation per video (the backbone runs once), and each metric's
features are that video's mdist curve.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from fada.data.io import SAMPLE_RATE, Video, resample_audio
from fada.errors import InputError

from ..types import Sample
from .backbone_metric import BackboneMetric, content_digest
from .backbones import SyncBackbone

VSHIFT = 15          # syncnet_python's default --vshift: offsets -15..+15 frames
WINDOW = 5           # video frames per SyncNet window
SYNC_FPS = 25.0      # SyncNet is trained on 25 fps video and 100 Hz MFCCs (4 per frame)


def offset_distances(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(n_windows, 2 vshift + 1) distances: row i holds video window i against audio windows
    i - vshift .. i + vshift, audio zero-padded beyond its ends (syncnet_python's `calc_pdist`)."""
    v = torch.as_tensor(np.asarray(video_emb), dtype=torch.float32)
    a = torch.as_tensor(np.asarray(audio_emb), dtype=torch.float32)
    n, width = v.shape[0], 2 * vshift + 1
    a_pad = torch.nn.functional.pad(a, (0, 0, vshift, vshift))
    idx = torch.arange(n)[:, None] + torch.arange(width)[None, :]
    d = torch.nn.functional.pairwise_distance(v[:, None, :].expand(n, width, -1), a_pad[idx], p=2.0, eps=1e-6)
    return d.numpy().astype(np.float64)


def lse_from_curve(mdist: np.ndarray) -> tuple[float, float, int]:
    """(LSE-D, LSE-C, AV offset) from the mean distance per offset, offsets -vshift..vshift."""
    mdist = np.asarray(mdist, dtype=np.float64)
    vshift = (mdist.size - 1) // 2
    i = int(np.argmin(mdist))
    # torch.median (syncnet_python's) takes the lower middle value; 2 vshift + 1 is odd anyway.
    median = float(np.sort(mdist)[(mdist.size - 1) // 2])
    return float(mdist[i]), median - float(mdist[i]), vshift - i


_CURVES: OrderedDict = OrderedDict()
_CURVES_KEPT = 16


def sync_curve(backbone: SyncBackbone, frames: np.ndarray, audio: np.ndarray, fps: float = SYNC_FPS,
               sample_rate: int = SAMPLE_RATE, vshift: int = VSHIFT, what: str = "video") -> np.ndarray:
    """mdist, the mean distance per offset -vshift..vshift (steps 1-3 of the module docstring).

    Raises `InputError` for a frame rate other than 25 fps, missing audio, or a clip too short for
    one window."""
    if abs(float(fps) - SYNC_FPS) > 1e-6:
        raise InputError(f"{what}: SyncNet scores 25 fps video, got {fps:g} fps; resample it to 25 fps first")
    if audio is None or np.asarray(audio).size == 0:
        raise InputError(f"{what}: no audio track, so audio-visual sync cannot be measured")
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        audio = resample_audio(audio, sample_rate, SAMPLE_RATE)
    spf = SAMPLE_RATE / SYNC_FPS
    min_length = min(int(frames.shape[0]), int(np.floor(audio.size / spf)))
    n_windows = min_length - WINDOW
    if n_windows < 1:
        raise InputError(
            f"{what}: too short for SyncNet: {frames.shape[0]} frames and {audio.size / SAMPLE_RATE:.3f} s "
            f"of audio give {min_length} usable frames; a {WINDOW}-frame window needs at least "
            f"{WINDOW + 1} (syncnet_python scores min_length - {WINDOW} windows)")
    key = (id(backbone), getattr(backbone, "name", ""), vshift, content_digest(frames[:min_length], audio))
    if key in _CURVES:
        _CURVES.move_to_end(key)
        return _CURVES[key]
    v = np.asarray(backbone.embed_video(frames[:min_length]))[:n_windows]
    a = np.asarray(backbone.embed_audio(audio, min_length))[:n_windows]
    if v.shape[0] != n_windows or a.shape[0] != n_windows:
        raise RuntimeError(f"{type(backbone).__name__} gave {v.shape[0]} video and {a.shape[0]} audio "
                           f"embeddings for {min_length} frames; the protocol asks for {min_length - 4} each")
    curve = offset_distances(v, a, vshift).mean(axis=0)
    _CURVES[key] = curve
    if len(_CURVES) > _CURVES_KEPT:
        _CURVES.popitem(last=False)
    return curve


class _SyncMetric(BackboneMetric):
    protocol = SyncBackbone
    per_sample = True
    sampling = (f"every {WINDOW}-frame window from frame 0 to min_length - {WINDOW + 1} "
                f"(syncnet_python), offsets -{VSHIFT}..{VSHIFT}")

    def __init__(self, backbone=None, vshift: int = VSHIFT, **kwargs):
        super().__init__(backbone, **kwargs)
        self.vshift = vshift

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        # A generated video carries the audio it was made from; a bare one is scored against the
        # sample's audio.
        audio, sr = (video.audio, video.sample_rate) if video.audio is not None else (sample.audio, SAMPLE_RATE)
        return sync_curve(self.net, video.frames, audio, video.fps, sr, self.vshift, what=f"sample {sample.id}")


class SyncDistance(_SyncMetric):
    """Sync-D (LSE-D): the smallest mean audio-video embedding distance over offsets; lower is better."""
    name = "sync_d"
    higher_is_better = False

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return lse_from_curve(gen)[0]


class SyncConfidence(_SyncMetric):
    """Sync-C (LSE-C): median minus minimum of the mean distance over offsets; higher is better."""
    name = "sync_c"
    higher_is_better = True

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return lse_from_curve(gen)[1]


class SyncOffset(_SyncMetric):
    """The AV offset in frames at which Sync-D is found (syncnet_python's sign). Recorded per
    sample; the ideal is 0, and a mean away from 0 shows a systematic lead or lag. It is not a
    quality score: `higher_is_better` is False only because a table needs a direction."""
    name = "sync_offset"
    higher_is_better = False

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return float(lse_from_curve(gen)[2])

# ---------------------------------------------------------------------------- the synthetic world
# Its small backbones are trained on synthetic faces only; on real video they would measure nothing.
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

SyncDistanceSynthetic = register_bound(SyncDistance, _syn.BACKBONE_NAME, _syn.load_sync_net, worlds=("synthetic",))
SyncConfidenceSynthetic = register_bound(SyncConfidence, _syn.BACKBONE_NAME, _syn.load_sync_net, worlds=("synthetic",))
SyncOffsetSynthetic = register_bound(SyncOffset, _syn.BACKBONE_NAME, _syn.load_sync_net, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
# Available only where the backbone's weight file (and package) is found (`fada-bench list metrics`).
from .backbones import standard as _standard  # noqa: E402

_syncnet = _standard.factory("syncnet_v2")      # one SyncNet for the three sync metrics
SyncDistanceSyncNet = register_bound(SyncDistance, "syncnet_v2", _syncnet, worlds=("real",))
SyncConfidenceSyncNet = register_bound(SyncConfidence, "syncnet_v2", _syncnet, worlds=("real",))
SyncOffsetSyncNet = register_bound(SyncOffset, "syncnet_v2", _syncnet, worlds=("real",))
