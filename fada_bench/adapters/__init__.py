"""Adapters: each kind turns a benchmark Sample into a Generation (a video and what it cost).

A method card names its adapter kind; `make_adapter(card, ctx)` builds it. Adding a kind is one
small class, registered with `@ADAPTERS.register("kind")`, in this package or in a plugin
(`docs/plugins.md`). The class declares the card fields it needs and reads, so the card parser
checks every card against its adapter without a list of its own.
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
    dtype: str = "fp32"              # --dtype: fp32, bf16 or fp16 (fada_bench.options.DTYPES)
    compile: bool = False            # --compile: torch.compile the denoiser
    method_folders: dict[str, Path] = field(default_factory=dict)   # --method-folder NAME=DIR
    decoder: str = "vae"           # --decoder: the FADA generators' VAE decoder, or the fast one


class Adapter:
    # The kind's name is the one it is registered under (`ADAPTERS.register`), written once.
    # Card fields (of `ADAPTER_FIELDS` in cards.py) that the kind needs, and those it reads besides;
    # a card that sets a field its adapter does not read is an error, since its author expects it
    # to act.
    requires: ClassVar[tuple[str, ...]] = ()
    accepts: ClassVar[tuple[str, ...]] = ()
    # A sanity anchor (ground truth, the reference repeated, ...): every table shows it beside the
    # methods, and table sweeps run it.
    anchor: ClassVar[bool] = False
    # Whether generation time measures the method's speed. Reading a file (ground truth,
    # precomputed videos) or repeating a frame says nothing about a method's speed, so those
    # report no seconds per video second.
    timed: ClassVar[bool] = False
    # Whether the method is a reference point (the ground truth, the reference frame repeated, the
    # ground truth through a VAE) rather than a contender: reports do not mark it best in a column.
    anchor: ClassVar[bool] = False

    def __init__(self, card: MethodCard, ctx: RunContext):
        self.card, self.ctx = card, ctx

    @classmethod
    def check_card(cls, card: MethodCard) -> None:
        """Checks of the card's fields beyond present and allowed; raise `cards.CardError`."""

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
