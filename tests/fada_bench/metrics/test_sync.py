"""Sync-D / Sync-C / AV offset as syncnet_python computes them, on a toy SyncNet whose embeddings
are known: a literal loop port of `calc_pdist` and `evaluate` is the oracle."""
import numpy as np
import pytest
import torch

from fada.data.io import Video
from fada.errors import InputError
from fada_bench.metrics.backbone_metric import BackboneMetric
from fada_bench.metrics.backbones import SyncBackbone
from fada_bench.metrics.sync import (SyncConfidence, SyncDistance, SyncOffset, lse_from_curve, offset_distances,
                                     sync_curve)
from fada_bench.types import Sample

SPF = 640  # audio samples per video frame at 16 kHz and 25 fps


class ToySync:
    """Each frame and each 40 ms of audio carry a content code; a window's embedding is a fixed
    random vector per code of its first frame, the same table for both streams."""
    name = "toy"

    def __init__(self, dim=8, codes=512, seed=0):
        self.table = np.random.default_rng(seed).normal(size=(codes, dim)).astype(np.float32)
        self.calls = 0

    def embed_video(self, frames):
        self.calls += 1
        return self.table[frames[: len(frames) - 4, 0, 0, 0].astype(int)]

    def embed_audio(self, audio, n_frames):
        codes = np.round(audio[: n_frames * SPF: SPF] * 1000).astype(int)
        return self.table[codes[: n_frames - 4]]


def toy_clip(n_frames, k, start=100):
    """Frames showing content start+t; audio at frame u carrying the content of frame u - k
    (the audio lags the picture by k frames, the synthetic world's `audio_offset` = k)."""
    frames = np.zeros((n_frames, 2, 2, 3), np.uint8)
    frames[:, 0, 0, 0] = (start + np.arange(n_frames)) % 256
    audio = np.repeat(((start + np.arange(n_frames) - k) % 256 + 0.0) / 1000, SPF).astype(np.float32)
    return frames, audio


def oracle_lse(v, a, vshift):
    """syncnet_python's evaluate(), step by step, in loops."""
    n = len(v)
    dists = np.zeros((n, 2 * vshift + 1))
    for i in range(n):
        for j in range(2 * vshift + 1):
            u = i - vshift + j
            other = a[u] if 0 <= u < n else np.zeros_like(v[i])
            dists[i, j] = np.linalg.norm(v[i] - other + 1e-6)   # torch pairwise_distance, eps 1e-6
    mdist = dists.mean(0)
    minidx = int(np.argmin(mdist))
    return mdist[minidx], float(torch.median(torch.tensor(mdist))) - mdist[minidx], vshift - minidx


def test_distances_and_lse_match_a_literal_port_of_syncnet_python():
    rng = np.random.default_rng(3)
    v, a = rng.normal(size=(40, 16)), rng.normal(size=(40, 16))
    d = offset_distances(v, a, 15)
    assert d.shape == (40, 31)
    d_o, c_o, off_o = oracle_lse(v, a, 15)
    d_m, c_m, off_m = lse_from_curve(d.mean(0))
    assert d_m == pytest.approx(d_o, rel=1e-5) and c_m == pytest.approx(c_o, rel=1e-4, abs=1e-6)
    assert off_m == off_o


@pytest.mark.parametrize("k", [-8, -3, 0, 2, 7])
def test_a_known_shift_is_found_with_syncnet_pythons_sign(k):
    frames, audio = toy_clip(50, k)
    d, c, off = lse_from_curve(sync_curve(ToySync(), frames, audio))
    assert off == -k          # audio lagging by k frames: video window i matches audio window i + k
    assert c > 0


def test_sync_d_rises_with_the_shift_and_uses_min_length_minus_5_windows():
    # Perfect embeddings: at the best offset a window costs eps * sqrt(dim) (pairwise_distance's
    # eps) unless its audio partner falls in the zero padding, where it costs |v + eps|. With a
    # shift of k, the last k of the min_length - 5 = 45 windows do.
    bb = ToySync()
    eps_cost = 1e-6 * np.sqrt(bb.table.shape[1])
    vals = []
    for k in range(0, 9, 2):
        frames, audio = toy_clip(50, k)
        vals.append(lse_from_curve(sync_curve(bb, frames, audio))[0])
        padded = np.linalg.norm(bb.table[100 + np.arange(45 - k, 45)] + 1e-6, axis=1).sum()
        assert vals[-1] == pytest.approx((padded + (45 - k) * eps_cost) / 45, rel=1e-4)
    assert all(b > a for a, b in zip(vals, vals[1:]))


def test_the_three_metrics_share_one_backbone_pass_and_read_the_curve():
    bb = ToySync(seed=1)
    frames, audio = toy_clip(60, 4)
    video = Video(frames, 25.0, audio)
    sample = Sample("s0", frames[0], audio, 60)
    d, c, o = SyncDistance.of(bb), SyncConfidence.of(bb), SyncOffset.of(bb)
    curves = [m.features(video, sample) for m in (d, c, o)]
    assert bb.calls == 1
    want = lse_from_curve(curves[0])
    assert [d.sample_value(curves[0], None), c.sample_value(curves[1], None), o.sample_value(curves[2], None)] == \
        [want[0], want[1], float(want[2])] and want[2] == -4
    assert (d.key(), c.key(), o.key()) == ("sync_d[toy]", "sync_c[toy]", "sync_offset[toy]")
    assert d.higher_is_better is False and c.higher_is_better is True


def test_a_video_without_its_own_audio_is_scored_against_the_samples_audio():
    bb = ToySync(seed=2)
    frames, audio = toy_clip(40, 3)
    m = SyncOffset.of(bb)
    assert m.sample_value(m.features(Video(frames, 25.0, None), Sample("s", frames[0], audio, 40)), None) == -3


@pytest.mark.parametrize("n_frames", [1, 5])
def test_a_clip_shorter_than_one_window_is_a_clear_error(n_frames):
    frames, audio = toy_clip(n_frames, 0)
    with pytest.raises(InputError, match="too short for SyncNet.*at least 6"):
        sync_curve(ToySync(), frames, audio)
    frames, audio = toy_clip(6, 0)
    assert np.isfinite(lse_from_curve(sync_curve(ToySync(), frames, audio))[0])


def test_short_audio_limits_the_windows_as_in_syncnet_python():
    frames, audio = toy_clip(50, 0)
    with pytest.raises(InputError, match="too short"):
        sync_curve(ToySync(), frames, audio[: 5 * SPF + SPF // 2])   # 5 whole audio frames


def test_other_frame_rates_and_missing_audio_are_errors():
    frames, audio = toy_clip(50, 0)
    with pytest.raises(InputError, match="25 fps"):
        sync_curve(ToySync(), frames, audio, fps=30.0)
    with pytest.raises(InputError, match="no audio"):
        sync_curve(ToySync(), frames, np.zeros(0, np.float32))


def test_binding_names_the_backbone_and_checks_the_protocol():
    assert isinstance(ToySync(), SyncBackbone)
    with pytest.raises(TypeError, match="not bound"):
        SyncDistance(ToySync())
    with pytest.raises(TypeError, match="does not implement"):
        SyncDistance.bind("toy")(object())
    with pytest.raises(ValueError, match="must name the backbone"):
        SyncDistance.bind("syncnet_v2")(ToySync())
    bound = SyncDistance.bind("toy", ToySync)
    assert issubclass(bound, SyncDistance) and issubclass(bound, BackboneMetric)
    assert bound.key() == "sync_d[toy]" and isinstance(bound().net, ToySync)
    # the backbone stays out of the metric's torch state
    assert all("table" not in k for k in bound().state_dict())


def test_per_sample_values_feed_the_t_interval():
    bb = ToySync(seed=4)
    m = SyncOffset.of(bb)
    for i, k in enumerate([2, 4, 6]):
        frames, audio = toy_clip(50, k, start=10 * i)
        m.update(m.features(Video(frames, 25.0, audio), Sample(f"s{i}", frames[0], audio, 50)), sample_index=i)
    est = m.compute()
    assert est.mean == pytest.approx(-4.0) and est.n == 3 and est.ci95_low < -4 < est.ci95_high
