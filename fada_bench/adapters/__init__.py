"""Adapters: each kind turns a benchmark Sample into a Generation (a video and what it cost).

A method card names its adapter kind; `make_adapter(card, ctx)` builds it. Adding a kind is one
small class in this package, registered with `@ADAPTERS.register("kind")`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from fada.data.io import Video, fit_audio_to_frames

from ..cards import MethodCard
from ..registry import ADAPTERS
from ..types import Generation, Sample


@dataclass
class RunContext:
    """What a run tells every adapter."""
    device: str = "cpu"
    method_folders: dict[str, Path] = field(default_factory=dict)   # --method-folder NAME=DIR
    decoder: str = "vae"           # --decoder: the FADA generators' VAE decoder, or the fast one


class Adapter:
    kind: ClassVar[str]
    # Whether generation time measures the method's speed. Reading a file (ground truth,
    # precomputed videos) or repeating a frame says nothing about a method's speed, so those
    # report no seconds per video second.
    timed: ClassVar[bool] = False

    def __init__(self, card: MethodCard, ctx: RunContext):
        self.card, self.ctx = card, ctx

    def setup(self) -> None:
        """Load what every sample needs. An InputError here fails every sample of the method with
        its message (a missing checkpoint, say), and the run goes on with the other methods."""

    def generate(self, sample: Sample, seed: int) -> Generation:
        raise NotImplementedError


def make_adapter(card: MethodCard, ctx: RunContext) -> Adapter:
    return ADAPTERS.get(card.adapter)(card, ctx)


def with_sample_audio(frames: np.ndarray, sample: Sample) -> Video:
    """A video of `frames` carrying the sample's driving audio, cut to the frames' duration."""
    audio = fit_audio_to_frames(sample.audio, len(frames), sample.fps)
    return Video(frames, sample.fps, audio)


def fit_frames(frames: np.ndarray, sample: Sample, source: str) -> np.ndarray:
    """The first n_frames frames; fewer than the sample needs is an error naming the source."""
    from fada.data.io import MediaError

    if len(frames) < sample.n_frames:
        raise MediaError(source, f"{len(frames)} frames, the sample needs {sample.n_frames}")
    return frames[: sample.n_frames]
