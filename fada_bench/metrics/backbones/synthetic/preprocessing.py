"""What the synthetic world's backbones see: frames as tensors, mouth crops, SyncNet windows, and
the world's geometry they are read against. Training and scoring call these same functions."""
from __future__ import annotations

import numpy as np
import torch

from fada.data.dataset import _resize
from fada.data.io import check_frames
from fada.data.synthetic.params import IDENTITY_FIELDS, LANDMARK_NAMES

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
