"""One synthetic talking-head clip: speech, the motion it drives, rendered frames, and defects.

A clip is fully determined by its seed, its identity vector and its list of defects. The clean
clip is the ground truth; each defect of the lenient set B is applied on top and recorded:

- `offset`: the audio is shifted by k frames (k recorded; k > 0 means the audio lags);
- `mismatched_audio`: the audio of another utterance, the face still driven by the original;
- `frozen_motion` / `excessive_motion`: the head does not move / moves far too much and shakes;
- `unstable_background`: the background shifts and flickers from frame to frame;
- `blur`, `noise`, `compression`: image degradations (Gaussian blur, Gaussian noise, JPEG).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io import FPS, SAMPLE_RATE
from .motion import expression_from_speech, pose_from_speech
from .params import ID
from .render import render_background, render_face
from .speech import synth_speech

DEFECTS = ("offset", "mismatched_audio", "frozen_motion", "excessive_motion",
           "unstable_background", "blur", "noise", "compression")
MAX_OFFSET = 8  # frames


@dataclass
class SynthClip:
    frames: np.ndarray            # (T, H, W, 3) uint8
    audio: np.ndarray             # (N,) float32, 16 kHz, the delivered track
    identity: np.ndarray          # (IDENTITY_DIM,)
    expression: np.ndarray        # (T, EXPRESSION_DIM): what the face does
    pose: np.ndarray              # (T, POSE_DIM)
    landmarks: np.ndarray         # (T, 8, 2) pixels
    audio_offset: int = 0         # frames the delivered audio lags the face by
    defects: tuple[str, ...] = ()
    degradation: dict = field(default_factory=dict)  # defect -> strength

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-clip ground truth, as stored next to the video."""
        return {
            "identity": self.identity, "expression": self.expression, "pose": self.pose,
            "landmarks": self.landmarks, "audio_offset": np.array(self.audio_offset, dtype=np.int32),
        }


def make_clip(seed: int | np.random.SeedSequence, identity: np.ndarray, n_frames: int, size: int,
              defects: tuple[str, ...] = (), fps: float = FPS) -> SynthClip:
    unknown = set(defects) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects {sorted(unknown)}; known: {', '.join(DEFECTS)}")
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # Independent streams, so that adding a defect does not change the clean content.
    r_speech, r_expr, r_pose, r_defect = (np.random.default_rng(s) for s in ss.spawn(4))
    f0 = float(identity[ID["voice_f0"]])

    # Speech covers a margin on both sides, so an offset can shift real audio in.
    m = MAX_OFFSET
    sp = synth_speech(r_speech, n_frames + 2 * m, f0, fps)
    expr_full = expression_from_speech(r_expr, sp, fps)
    motion_scale, jitter = 1.0, 0.0
    if "frozen_motion" in defects:
        motion_scale = 0.0
    if "excessive_motion" in defects:
        motion_scale, jitter = float(r_defect.uniform(3.5, 5.0)), float(r_defect.uniform(0.05, 0.1))
    pose_full = pose_from_speech(r_pose, sp, motion_scale, jitter)
    expr, pose = expr_full[m:m + n_frames], pose_full[m:m + n_frames]

    spf = SAMPLE_RATE / fps
    offset = 0
    if "offset" in defects:
        offset = int(r_defect.integers(3, MAX_OFFSET + 1)) * int(r_defect.choice([-1, 1]))
    # Delivered audio at frame t is the speech of frame t - offset.
    a0 = int(round((m - offset) * spf))
    audio = sp.audio[a0:a0 + int(round(n_frames * spf))]
    if "mismatched_audio" in defects:
        other = synth_speech(r_defect, n_frames, f0 * float(r_defect.uniform(0.8, 1.25)), fps)
        audio = other.audio

    frames = np.empty((n_frames, size, size, 3), dtype=np.uint8)
    landmarks = np.empty((n_frames, 8, 2), dtype=np.float32)
    degradation: dict = {}
    bg_static = render_background(identity, size)
    if "unstable_background" in defects:
        shake = float(r_defect.uniform(0.04, 0.1))
        flick = float(r_defect.uniform(0.08, 0.18))
        degradation["unstable_background"] = shake
    for t in range(n_frames):
        bg = bg_static
        if "unstable_background" in defects:
            off = r_defect.normal(0.0, shake, 2)
            bg = render_background(identity, size, offset=off, gain=1.0 + r_defect.uniform(-flick, flick))
        frames[t], landmarks[t] = render_face(identity, expr[t], pose[t], size, background=bg)

    frames = _degrade(frames, defects, r_defect, degradation)
    return SynthClip(frames, audio.astype(np.float32), identity, expr, pose, landmarks, offset,
                     tuple(defects), degradation)


def _degrade(frames: np.ndarray, defects, rng: np.random.Generator, record: dict) -> np.ndarray:
    """Apply the image defects of a clip, with strengths drawn from `rng` and recorded."""
    strengths = {"blur": lambda: float(rng.uniform(1.2, 2.2)),
                 "noise": lambda: float(rng.uniform(10.0, 20.0)),
                 "compression": lambda: int(rng.integers(4, 11))}
    for kind, draw in strengths.items():
        if kind in defects:
            record[kind] = draw()
            frames = apply_degradation(frames, kind, record[kind], rng)
    return frames


def apply_degradation(frames: np.ndarray, kind: str, strength: float,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply one image degradation at a given strength: blur sigma in px at 128 px (scaled with
    the frame size), noise std on 0-255, JPEG quality (lower is worse). Also used by the metric
    validity tests to build graded corruptions."""
    import cv2

    if kind == "blur":
        if strength <= 0:
            return frames
        sigma = strength * frames.shape[1] / 128
        return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])
    if kind == "noise":
        rng = rng if rng is not None else np.random.default_rng(0)
        noise = rng.normal(0.0, strength, frames.shape).astype(np.float32)
        return np.clip(frames.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    if kind == "compression":
        out = []
        for f in frames:
            ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(strength)])
            out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        return np.ascontiguousarray(np.stack(out))
    raise ValueError(f"unknown degradation {kind!r}; known: blur, noise, compression")
