"""Toy metrics for the harness tests: cheap, exact, and one of each kind the runner handles.
Not shipped: the tests register them (in-process through a fixture, in subprocesses through
FADA_BENCH_PLUGINS=harness_toy_plugin)."""
import os
import time

import numpy as np

from fada_bench.metrics.base import BenchMetric


class Brightness(BenchMetric):
    """Per sample, no reference: the video's mean pixel value."""
    name, backbone, per_sample, higher_is_better = "toy_brightness", "toy", True, True

    def features(self, video, sample):
        time.sleep(float(os.environ.get("TOY_SLEEP", "0")))   # lets a test kill a run mid-way
        return video.frames.reshape(video.n_frames, -1).mean(1)

    def sample_value(self, gen, ref):
        return float(gen.mean())


class MotionGap(BenchMetric):
    """Per sample, against the ground truth: |mean frame-to-frame change - the ground truth's|.
    Zero up to codec noise for the ground truth, large for the static reference."""
    name, backbone, per_sample, higher_is_better, needs_reference = "toy_motion_gap", "toy", True, False, True

    def features(self, video, sample):
        f = video.frames.astype(np.float64)
        return np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))

    def sample_value(self, gen, ref):
        return float(abs(gen.mean() - ref.mean()))


class FrameMeanGap(BenchMetric):
    """Per set: distance between the mean 4x4 grey thumbnails of generated and real frames."""
    name, backbone, per_sample, higher_is_better = "toy_set_gap", "toy", False, False

    def features(self, video, sample):
        g = video.frames.astype(np.float64).mean(-1)
        t, h, w = g.shape
        return g.reshape(t, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(t, 16)

    def set_value(self, gen, ref):
        return float(np.linalg.norm(gen.mean(0) - ref.mean(0)))


TOYS = {"toy_brightness": Brightness, "toy_motion_gap": MotionGap, "toy_set_gap": FrameMeanGap}
