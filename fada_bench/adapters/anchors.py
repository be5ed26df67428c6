"""The sanity anchors of every table: the ground truth itself and the reference frame repeated."""
from __future__ import annotations

import numpy as np

from ..registry import ADAPTERS
from ..types import Generation, Sample
from . import Adapter, fit_frames, with_sample_audio


@ADAPTERS.register("ground_truth")
class GroundTruth(Adapter):
    anchor = True

    def generate(self, sample: Sample, seed: int) -> Generation:
        gt = sample.ground_truth()
        return Generation(with_sample_audio(fit_frames(gt.frames, sample, str(sample.video_path)), sample))


@ADAPTERS.register("static")
class Static(Adapter):
    anchor = True

    def generate(self, sample: Sample, seed: int) -> Generation:
        frames = np.repeat(sample.reference[None], sample.n_frames, axis=0)
        return Generation(with_sample_audio(frames, sample))
