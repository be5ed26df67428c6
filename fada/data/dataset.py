"""A torch Dataset of training windows over a data folder's manifest, for both worlds.

One item is a window of `n_frames` consecutive frames of one clip, with what the generator is
conditioned on (paper Sec. 3.1): a reference frame of the same clip, the `n_motion` frames just
before the window (the reference repeated when the window starts the clip, as the first window of
a generated video is conditioned), and the audio under the window with `audio_context` frames of
context on each side. Images are float tensors in [-1, 1], C x H x W.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .io import SAMPLE_RATE, read_audio, read_video, to_tensor_images  # noqa: F401 (re-exported)
from .manifest import load_npz, read_manifest
from .synthetic.world import DEFECTS


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if frames.shape[1] == size:
        return frames
    interp = cv2.INTER_AREA if frames.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


class ClipDataset(Dataset):
    """Windows of the clips in `folder` whose split and tier match.

    tiers: which filter tiers to use, e.g. ("A",) for the teacher (strict set A) or ("A", "B")
        for distillation on the lenient set B. `None` uses every clip that is not rejected.
    windows_per_clip: how many windows each clip contributes per epoch (start drawn at random).
    cache_clips: how many decoded clips to keep in memory (decoding dominates small-model steps);
        None keeps every clip once read.
    latents: a folder of per-clip VAE latents (ID.npy, T x C x h x w, from
        `fada.train.latents.encode_clip_latents`); items then carry `target_latents`,
        `reference_latents` and `motion_latents` instead of images, and no video is decoded.
    """

    def __init__(self, folder: str | os.PathLike, split: str = "train", tiers: tuple[str, ...] | None = ("A",),
                 n_frames: int = 16, n_motion: int = 2, size: int | None = None, audio_context: int = 2,
                 windows_per_clip: int = 1, seed: int = 0, cache_clips: int | None = 64,
                 latents: str | os.PathLike | None = None):
        self.folder = Path(folder)
        df = read_manifest(self.folder)
        df = df[(df["status"] == "ok") & (df["n_frames"] >= n_frames)]
        if split != "all":
            df = df[df["split"] == split]
        df = df[df["tier"].isin(tiers)] if tiers is not None else df[df["tier"] != "rejected"]
        if df.empty:
            raise ValueError(f"{self.folder}: no clips with split={split!r}, tiers={tiers}, at least {n_frames} frames")
        self.rows = df.reset_index(drop=True)
        self.n_frames, self.n_motion, self.size = n_frames, n_motion, size
        self.audio_context = audio_context
        self.windows_per_clip = windows_per_clip
        self.seed = seed
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._cache_clips = cache_clips
        self.latents = None if latents is None else Path(latents)

    def __len__(self) -> int:
        return len(self.rows) * self.windows_per_clip

    def _load(self, row) -> tuple[np.ndarray, np.ndarray, dict]:
        if row.id in self._cache:
            self._cache.move_to_end(row.id)
            return self._cache[row.id]
        if self.latents is not None:
            frames = np.load(self.latents / f"{row.id}.npy", allow_pickle=False)
            audio = read_audio(self.folder / row.video)
        else:
            v = read_video(self.folder / row.video, fps=float(row.fps))
            frames = _resize(v.frames, self.size) if self.size else v.frames
            audio = v.audio
        params = load_npz(self.folder / row.params) if row.params else {}
        params.pop("manifest_row", None)
        item = (frames, audio, params)
        self._cache[row.id] = item
        if self._cache_clips is not None and len(self._cache) > self._cache_clips:
            self._cache.popitem(last=False)
        return item

    def __getitem__(self, index: int) -> dict:
        return self.get(index)

    def get(self, index: int, salt: int = 0) -> dict:
        """Item `index`; `salt` (the epoch, in training) draws another window and reference frame."""
        row = self.rows.iloc[index // self.windows_per_clip]
        frames, audio, params = self._load(row)
        rng = np.random.default_rng([self.seed, index, salt])
        T, n = frames.shape[0], self.n_frames
        start = int(rng.integers(0, T - n + 1))
        ref_idx = int(rng.integers(0, T))
        target = frames[start:start + n]
        motion_idx = [start - self.n_motion + i for i in range(self.n_motion)]
        motion = np.stack([frames[i] if i >= 0 else frames[ref_idx] for i in motion_idx]) if self.n_motion else frames[:0]

        spf = SAMPLE_RATE / float(row.fps)
        a0 = int(round((start - self.audio_context) * spf))
        a1 = int(round((start + n + self.audio_context) * spf))
        window = np.zeros(a1 - a0, dtype=np.float32)
        lo, hi = max(a0, 0), min(a1, audio.size)
        if hi > lo:
            window[lo - a0:hi - a0] = audio[lo:hi]

        defects = set(filter(None, str(row.defects).split(",")))
        if self.latents is not None:
            def conv(x):
                return torch.from_numpy(np.asarray(x, dtype=np.float32))
            suffix = "_latents"
        else:
            conv, suffix = to_tensor_images, ""
        item = {
            "id": row.id, "start": start, "identity": row.identity,
            f"reference{suffix}": conv(frames[ref_idx]),
            f"motion{suffix}": conv(motion),
            f"target{suffix}": conv(target),
            "audio": torch.from_numpy(window),
            "tier": row.tier,
            "defects": torch.tensor([d in defects for d in DEFECTS], dtype=torch.bool),
        }
        for k in ("expression", "pose"):
            if k in params:
                item[k] = torch.from_numpy(params[k][start:start + n].astype(np.float32))
        return item
