"""The long-video drift metrics (id_drift, color_drift, seam) against independent numpy
computations, on videos built to drift and videos built not to, and the synthetic_long suite's
wiring (its split file, its default metrics, long-video metrics kept out of short suites)."""
import numpy as np
import pytest

from fada.data.io import Video
from fada.data.synthetic.params import sample_identity
from fada.data.synthetic.world import make_clip
from fada.errors import InputError
from fada_bench.metrics.long_video import (ColorDrift, IdentityDrift, IdentityDriftSynthetic, SeamScore, end_windows,
                                           lab_stats, seam_ratios, srgb_to_lab)
from fada_bench.runner import resolve_metrics
from fada_bench.types import Sample

FPS = 2.0          # 10 s = 20 frames: the drift windows at a cost a unit test can pay
N = 60             # 30 s at FPS


def score(metric, video):
    sample = Sample(id="s", reference=video.frames[0], audio=np.zeros(16000, np.float32), n_frames=video.n_frames, fps=FPS)
    return metric.sample_value(metric.features(video, sample), None)


@pytest.fixture(scope="module")
def looped():
    """A real synthetic-world clip (40 frames at 64 px), played forwards and backwards to N frames:
    the same person in the same light throughout."""
    clip = make_clip(11, sample_identity(np.random.default_rng(11)), 40, 64).frames
    bounce = np.concatenate([clip, clip[::-1]])
    return np.concatenate([bounce] * (N // len(bounce) + 1))[:N]


def recoloured(frames, strength):
    """Frames whose colours slide linearly over the video: red gain from 1 to 1 - strength, blue
    gain from 1 to 1 + strength."""
    t = np.linspace(0.0, 1.0, len(frames))[:, None, None, None]
    gain = np.array([1.0, 1.0, 1.0]) + strength * t * np.array([-1.0, 0.0, 1.0])
    return np.clip(frames * gain, 0, 255).round().astype(np.uint8)


# ---------------------------------------------------------------------------- windows

def test_end_windows_are_the_first_and_last_ten_seconds():
    assert end_windows(1500, 25.0) == (slice(0, 250), slice(1250, 1500))
    assert end_windows(40, 2.0) == (slice(0, 20), slice(20, 40))


def test_a_video_shorter_than_two_windows_is_a_clear_error():
    with pytest.raises(InputError, match=r"at least 20 s.*synthetic_long"):
        end_windows(50, 25.0)


# ---------------------------------------------------------------------------- colour

def reference_lab(rgb8):
    """scikit-image's sRGB -> CIELAB (D65): the reference the metric's conversion is checked against."""
    from skimage.color import rgb2lab

    return rgb2lab(rgb8)


def test_lab_conversion_and_statistics_match_scikit_image():
    frames = np.random.default_rng(0).integers(0, 256, (70, 8, 10, 3), dtype=np.uint8)   # > one LAB_CHUNK
    lab = reference_lab(frames)
    np.testing.assert_allclose(srgb_to_lab(frames), lab, atol=1e-3)
    lab = lab.reshape(-1, 3)
    np.testing.assert_allclose(lab_stats(frames), np.concatenate([lab.mean(0), lab.std(0)]), atol=1e-4)


def test_color_drift_is_the_distance_between_window_statistics():
    frames = np.random.default_rng(1).integers(0, 256, (N, 6, 6, 3), dtype=np.uint8)
    first, last = reference_lab(frames[:20]).reshape(-1, 3), reference_lab(frames[-20:]).reshape(-1, 3)
    want = np.linalg.norm(np.concatenate([last.mean(0) - first.mean(0), last.std(0) - first.std(0)]))
    assert score(ColorDrift(), Video(frames, FPS)) == pytest.approx(want, abs=1e-3)


def test_a_slowly_recolouring_video_scores_worse_than_a_stable_one(looped):
    stable = score(ColorDrift(), Video(looped, FPS))
    slight = score(ColorDrift(), Video(recoloured(looped, 0.1), FPS))
    strong = score(ColorDrift(), Video(recoloured(looped, 0.3), FPS))
    assert stable < 1.0                      # below one just-noticeable difference
    assert 3 * stable < slight < strong


# ---------------------------------------------------------------------------- seams

def test_seam_ratios_on_a_video_with_known_steps():
    """Brightness t + 5 * (t // 16): a step of 1 inside windows and of 6 across each boundary."""
    t = np.arange(64)
    frames = np.broadcast_to((t + 5 * (t // 16)).astype(np.uint8)[:, None, None, None], (64, 4, 4, 3))
    seams = seam_ratios(frames, 16)
    assert seams.inside == 1.0
    np.testing.assert_allclose(seams.ratios, [6.0, 6.0, 6.0])
    assert score(SeamScore(), Video(np.ascontiguousarray(frames), FPS)) == pytest.approx(6.0)


def test_a_still_video_has_no_seam_and_one_window_is_a_clear_error():
    still = np.full((48, 4, 4, 3), 90, np.uint8)
    np.testing.assert_array_equal(seam_ratios(still, 16).ratios, [0.0, 0.0])
    with pytest.raises(InputError, match="no seam to score"):
        score(SeamScore(), Video(still[:16], FPS))


def test_the_seam_window_is_that_of_every_fada_config():
    from fada.models.configs import CONFIGS

    assert {c["frames"] for c in CONFIGS.values()} == {SeamScore().window}


# ---------------------------------------------------------------------------- identity

class MeanColour:
    """A stand-in identity backbone: each frame's mean colour, NaN where the frame is black (no face)."""
    name = "mean_colour"

    def embed_identity(self, frames):
        out = frames.reshape(len(frames), -1, 3).mean(1).astype(np.float64)
        out[out.sum(1) == 0] = np.nan
        return out


def test_id_drift_is_one_minus_the_cosine_of_window_means():
    frames = np.random.default_rng(2).integers(1, 256, (N, 4, 4, 3), dtype=np.uint8)
    frames[3] = 0                                                       # a frame with no face: left out
    emb = MeanColour().embed_identity(frames)
    a, b = np.nanmean(emb[:20], 0), emb[-20:].mean(0)
    want = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert score(IdentityDrift.of(MeanColour()), Video(frames, FPS)) == pytest.approx(want, rel=1e-12)


def test_id_drift_without_a_face_in_a_window_is_a_clear_error():
    frames = np.full((N, 4, 4, 3), 50, np.uint8)
    frames[-20:] = 0
    with pytest.raises(InputError, match="no face in the last 10 s"):
        score(IdentityDrift.of(MeanColour()), Video(frames, FPS))


def test_id_drift_on_the_inverse_renderer_sees_a_change_of_person(looped):
    other = make_clip(12, sample_identity(np.random.default_rng(12)), 40, 64).frames
    changed = np.concatenate([looped[:30], np.concatenate([other, other[::-1]])[:30]])
    metric = IdentityDriftSynthetic()
    same, swapped = score(metric, Video(looped, FPS)), score(metric, Video(changed, FPS))
    assert same < 0.1 < swapped


# ---------------------------------------------------------------------------- the suite

def test_long_video_metrics_are_not_scored_by_default_on_short_suites():
    keys = resolve_metrics(None, "synthetic")
    assert not [k for k in keys if k.split("[")[0] in ("id_drift", "color_drift", "seam")]
    assert "csim[synthetic]" in keys


@pytest.mark.parametrize("suite,seconds,n", [("synthetic_long", 60.0, 10), ("synthetic_long_ci", 20.0, 3)])
def test_the_long_suites_record_clips_the_drift_windows_fit(suite, seconds, n):
    """Each long suite's split file records a world whose clips hold the first and the last 10 s
    (synthetic_long_ci: exactly those two windows), and the suite scores the drift metrics by default."""
    from fada_bench.registry import SUITES

    s = SUITES.get(suite)()
    assert s.config.seconds == seconds and len(s.ids()) == n
    first, last = end_windows(int(round(s.config.seconds * s.config.fps)), s.config.fps)
    assert first.stop <= last.start
    keys = resolve_metrics(list(s.metrics), s.world)
    assert {k.split("[")[0] for k in keys} >= {"id_drift", "color_drift", "seam"}
