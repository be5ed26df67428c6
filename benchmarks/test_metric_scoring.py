"""Speed of scoring synthetic test clips (2 s, 128 px) with every synthetic-backbone metric
(pytest-benchmark). Run with `python -m pytest benchmarks/ --benchmark-enable`.

Two parts, measured separately because the runner caches features by content hash:
- feature extraction for 10 generated clips (every backbone, cold: no cached features),
- the statistics for 100 samples from cached features (per-sample t intervals, per-set bootstrap
  with the default 200 resamples); the features of the 10 clips are reused for 100 samples,
  since the cost depends on the number of rows, not on their values.
They record numbers; they never assert a wall-clock time."""
import json

import numpy as np
import pytest

from fada.data.io import Video, read_video
from fada.data.synthetic.build import WorldConfig, build_world
from fada_bench.metrics import sync as sync_mod
from fada_bench.metrics.backbones import synthetic as sb
from fada_bench.paths import find_split
from fada_bench.registry import list_metrics
from fada_bench.types import Sample

N_CLIPS = 10


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    world = json.loads(find_split("synthetic").read_text())["world"]
    out = tmp_path_factory.mktemp("bench_suite")
    cfg = WorldConfig(n_train=0, n_test=N_CLIPS, n_openset=0, size=world["size"], seed=world["seed"],
                      seconds=world["seconds"])
    res = []
    for i, r in enumerate(sorted(build_world(out, cfg, workers=1), key=lambda r: r["id"])):
        gt = read_video(out / r["video"])
        s = Sample(r["id"], gt.frames[0], gt.audio, gt.n_frames, 25.0, out / r["video"], out / r["params"])
        # a "generated" video that differs from the ground truth, so no cached output is reused
        noisy = np.clip(gt.frames.astype(np.int16) + np.random.default_rng(i).integers(-3, 4, gt.frames.shape), 0, 255)
        res.append((s, gt, Video(noisy.astype(np.uint8), 25.0, gt.audio)))
    return res


@pytest.fixture(scope="module")
def metrics():
    # What a run scores on 2 s clips by default: the long-video drift metrics need 20 s and more.
    return [cls() for key, cls, ok, _ in list_metrics("synthetic") if key.endswith("[synthetic]") and not cls.long_video]


def _clear_backbone_caches():
    sync_mod._CURVES.clear()
    sb.load_inverse_renderer()._cache.clear()


def test_feature_extraction_10_clips(benchmark, clips, metrics):
    def run():
        _clear_backbone_caches()
        return [[m.features(gen, s) for m in metrics] for s, _, gen in clips]

    feats = benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=1)
    assert len(feats) == N_CLIPS and all(np.isfinite(np.asarray(f, dtype=float)).all() for row in feats for f in row)
    if benchmark.stats:
        per_clip = benchmark.stats.stats.mean / N_CLIPS
        benchmark.extra_info["seconds_per_clip_all_metrics"] = per_clip
        benchmark.extra_info["extrapolated_100_clips_s"] = 100 * per_clip


def test_statistics_100_samples_from_cached_features(benchmark, clips, metrics):
    _clear_backbone_caches()
    gen = [[m.features(g, s) for m in metrics] for s, _, g in clips]
    ref = [[m.reference_features(gt, s) if (m.needs_reference or not m.per_sample) else None for m in metrics]
           for s, gt, _ in clips]

    def run():
        out = {}
        for j, m in enumerate(metrics):
            m.reset()
            for i in range(100):
                m.update(gen[i % N_CLIPS][j], ref[i % N_CLIPS][j], sample_index=i)
            out[m.key()] = m.compute()
        return out

    est = benchmark.pedantic(run, rounds=1, iterations=1)
    assert all(e.n == 100 and np.isfinite(e.mean) for e in est.values()), est
