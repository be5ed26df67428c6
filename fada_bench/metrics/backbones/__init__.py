"""What each metric needs from a backbone. One metric implementation, many backbones: the real
world's standard networks (loaded from the user's weight files) and the synthetic world's small
networks (trained by the project's recipes and shipped) implement the same protocols:
`standard/` holds the ports of the standard networks (`standard.build("syncnet_v2")`),
`synthetic/` the synthetic world's networks. Their weight files are kept in `fada_bench.weight_files`.

Frames are uint8 arrays T x H x W x 3 (RGB) at any even size; a backbone resizes as it needs.
Audio is mono float32 at 16 kHz. Every backbone has a `name` that metric keys carry
(`fid[inception]`, `fid[synthetic]`).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class FrameEmbedder(Protocol):
    """Per-frame features: FID (Inception pool3, 2048-d) and its synthetic analogue."""
    name: str

    def embed_frames(self, frames: np.ndarray) -> np.ndarray: ...          # (T, D)


@runtime_checkable
class ClipEmbedder(Protocol):
    """Per-clip video features for FVD: I3D (400-d logits) or a 3D-ResNet (FVD-R), 16-frame clips."""
    name: str
    clip_len: int

    def embed_clips(self, frames: np.ndarray) -> np.ndarray: ...           # (n_clips, D)


@runtime_checkable
class SyncBackbone(Protocol):
    """A SyncNet: embeddings of 5-frame mouth windows and of the matching 0.2 s of audio.

    `video_windows(frames)` gives one window per frame start t (frames t..t+4, preprocessed as the
    network expects); `audio_windows(audio, n_frames)` one per video frame (MFCC of the 0.2 s
    starting at that frame). Both embeddings live in one space; the metric computes distances
    over offsets as syncnet_python does."""
    name: str

    def embed_video(self, frames: np.ndarray) -> np.ndarray: ...           # (T - 4, D)

    def embed_audio(self, audio: np.ndarray, n_frames: int) -> np.ndarray: ...  # (n_frames - 4, D)


@runtime_checkable
class ExpressionExtractor(Protocol):
    """Per-frame expression coefficients for E-FID (3DMM expression, landmarks, or the synthetic
    inverse renderer's expression output)."""
    name: str

    def expressions(self, frames: np.ndarray) -> np.ndarray: ...           # (T, E)


@runtime_checkable
class LandmarkDetector(Protocol):
    """2-D face landmarks per frame for the paired landmark distances (LMD, mouth LMD): mediapipe's
    face mesh, dlib's 68 points, or the synthetic world's landmark geometry. `eye_points` names the
    landmarks whose mean is each eye's centre (image left first), `mouth_points` the mouth's."""
    name: str
    eye_points: tuple[tuple[int, ...], tuple[int, ...]]
    mouth_points: tuple[int, ...]

    def face_landmarks(self, frames: np.ndarray) -> np.ndarray: ...       # (T, K, 2) pixels, NaN: no face


@runtime_checkable
class QualityScorer(Protocol):
    """No-reference image quality per frame on Q-Align's 1-5 scale (or the scorer's own scale,
    named in its key)."""
    name: str

    def score_frames(self, frames: np.ndarray) -> np.ndarray: ...          # (T,)


@runtime_checkable
class IdentityEmbedder(Protocol):
    """Face identity embeddings (ArcFace or the synthetic inverse renderer's identity)."""
    name: str

    def embed_identity(self, frames: np.ndarray) -> np.ndarray: ...        # (T, D)
