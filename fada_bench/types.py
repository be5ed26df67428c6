"""What flows between suites, adapters, metrics and the runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fada.data.io import Video, read_video


@dataclass
class Sample:
    """One benchmark sample: a reference image and the audio to animate it with.

    The ground-truth video (when the suite has one) is read lazily; the reference frame is its
    first frame, as in the paper's peers' evaluation protocols."""

    id: str
    reference: np.ndarray            # H x W x 3 uint8
    audio: np.ndarray                # mono float32 at 16 kHz
    n_frames: int
    fps: float = 25.0
    video_path: Path | None = None   # ground truth
    params_path: Path | None = None  # synthetic world's per-frame ground truth (.npz)
    meta: dict = field(default_factory=dict)

    def ground_truth(self) -> Video:
        if self.video_path is None:
            raise FileNotFoundError(f"sample {self.id} has no ground-truth video")
        return read_video(self.video_path, fps=self.fps)

    @property
    def size(self) -> int:
        return int(self.reference.shape[0])


@dataclass
class Generation:
    """A generated video and what it cost. NFE comes from the denoiser's counter; methods without
    a denoiser (ground truth, static, external tools) report None."""

    video: Video
    nfe_per_window: int | None = None
    nfe_total: int | None = None
    windows: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    first_clip_latency: float | None = None                   # inputs to the first decoded window, s
    peak_mem_gb: float | None = None                          # fada.profiling.peak_memory_gb
    device: str | None = None                                 # e.g. "cpu", "NVIDIA H100 80GB HBM3"
    dtype: str | None = None                                  # the generator's weights: float32, bfloat16, ...
    compiled: bool | None = None                              # denoiser run through torch.compile
    resolution: int | None = None                             # the generator's frame size
