"""The paired metrics (LMD, mouth LMD, expression error): their definition against hand-made
landmarks with known answers, and their validity on clips of the synthetic test suite, where a
still image, a 3-frame audio offset and shuffled expression tracks must all score worse than the
truth (the last of which E-FID, a distribution metric, cannot see)."""

import numpy as np
import pytest
from scipy import stats

from harness_util import encoded
from fada.data.io import Video
from fada.data.synthetic.render import render_background, render_face
from fada_bench.metrics.efid import ExpressionFrechetDistanceSynthetic
from fada_bench.metrics.paired import (
    ExpressionErrorSynthetic,
    LandmarkDistanceSynthetic,
    MouthLandmarkDistanceSynthetic,
    expression_error,
    landmark_distance,
)

N_CLIPS = 6
PAIRED = (LandmarkDistanceSynthetic, MouthLandmarkDistanceSynthetic, ExpressionErrorSynthetic)


# ---------------------------------------------------------------------------- the definition

EYES = ((0,), (1,))
MOUTH = (2, 3, 4)


def similarity(points, angle, scale, shift):
    """Rotate by `angle`, scale and shift T x K x 2 points, with an explicit 2 x 2 matrix."""
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return scale * points @ rot.T + np.asarray(shift)


@pytest.fixture
def face():
    """Two frames of six landmarks: eyes 4 px apart, three mouth points, a chin."""
    f = np.array([[-2.0, 0.0], [2.0, 0.0], [-1.5, 4.0], [1.5, 4.0], [0.0, 4.5], [0.0, 7.0]])
    return np.stack([f, f + [0.3, -0.2]])


def test_a_similarity_transform_of_the_same_landmarks_scores_zero(face):
    moved = similarity(face, angle=0.6, scale=2.7, shift=(31.0, -12.0))
    assert landmark_distance(moved, face, EYES) == pytest.approx(0.0, abs=1e-12)
    assert landmark_distance(moved, face, EYES, MOUTH) == pytest.approx(0.0, abs=1e-12)


def test_a_known_mouth_displacement_gives_its_share_of_the_inter_ocular_distance(face):
    # Mouth points 1 px lower with eyes 4 px apart: 0.25 inter-ocular distances per mouth point;
    # over all six landmarks, three of which moved, 0.125. The generated set is then seen through
    # a rotated, scaled, shifted camera, which the eye alignment must undo.
    gen = face.copy()
    gen[:, list(MOUTH), 1] += 1.0
    gen = similarity(gen, angle=-0.4, scale=0.5, shift=(7.0, 3.0))
    assert landmark_distance(gen, face, EYES, MOUTH) == pytest.approx(0.25, rel=1e-9)
    assert landmark_distance(gen, face, EYES) == pytest.approx(0.125, rel=1e-9)


def test_eye_centres_from_several_points_and_frames_without_a_face():
    # An eye given by two corners: its centre is their mean. The second frame has no face.
    base = np.array([[-3.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    eyes = ((0, 1), (2, 3))
    gen = np.stack([base, np.full_like(base, np.nan)])
    gen[0, 4] += [0.0, 0.5]                      # eye centres 4 px apart: 0.125 for this point
    ref = np.stack([base, base])
    assert landmark_distance(gen, ref, eyes, (4,)) == pytest.approx(0.125)
    assert landmark_distance(gen, ref, eyes) == pytest.approx(0.125 / 5)
    with pytest.raises(Exception, match="no frame has a face"):
        landmark_distance(np.full_like(ref, np.nan), ref, eyes)


def test_expression_error_is_the_mean_absolute_difference_and_needs_paired_frames():
    gen = np.array([[0.5, 0.0, 1.0], [0.0, 0.0, 0.0]])
    ref = np.array([[0.0, 0.3, 1.0], [0.0, 0.0, 0.6]])
    assert expression_error(gen, ref) == pytest.approx(np.mean([0.8 / 3, 0.6 / 3]))
    with pytest.raises(Exception, match="same frame count"):
        expression_error(gen[:1], ref)


# ---------------------------------------------------------------------------- on synthetic clips





def scores(metric_cls, gens, clips):
    """Per-clip values of a paired metric: each generated video against its clip's record."""
    m = metric_cls()
    return np.array([m.sample_value(m.features(g, s), m.reference_features(gt, s))
                     for (s, gt, _), g in zip(clips, gens)])


def clearly_worse(worse, better):
    """Worse on average, by a paired one-sided t test at the 1% level over the clips."""
    return worse.mean() > better.mean() and stats.ttest_rel(worse, better, alternative="greater").pvalue < 0.01


def rerender(p, expression):
    """A clip re-rendered by the world's renderer from its record, with another expression track."""
    bg = render_background(p["identity"], 128)
    return np.stack([render_face(p["identity"], e, q, 128, background=bg)[0]
                     for e, q in zip(expression, p["pose"])])


@pytest.fixture(scope="module")
def anchors(suite, work):
    """The ground truth (re-encoded, as the ground_truth method writes it), the reference frame
    repeated, and the ground truth through the shipped tiny VAE (the vae_roundtrip method)."""
    from fada_bench.adapters import RunContext, make_adapter
    from fada_bench.registry import METHODS

    vae = make_adapter(METHODS.get("vae_roundtrip"), RunContext())
    vae.setup()
    out = {"ground_truth": [], "static": [], "vae_roundtrip": []}
    for s, gt, _ in suite:
        out["ground_truth"].append(encoded(gt.frames, gt.audio, work, "gt"))
        out["static"].append(encoded(np.repeat(s.reference[None], gt.n_frames, 0), gt.audio, work, "st"))
        out["vae_roundtrip"].append(encoded(vae.generate(s, 0).video.frames, gt.audio, work, "vae"))
    return out


@pytest.mark.parametrize("metric", PAIRED, ids=lambda m: m.key())
def test_static_scores_clearly_worse_than_ground_truth_and_the_vae_round_trip(metric, suite, anchors):
    got = {k: scores(metric, v, suite) for k, v in anchors.items()}
    assert clearly_worse(got["static"], got["ground_truth"]), got
    assert clearly_worse(got["static"], got["vae_roundtrip"]), got


@pytest.mark.parametrize("metric", PAIRED, ids=lambda m: m.key())
def test_a_three_frame_audio_offset_scores_worse_than_the_clip_in_sync(metric, suite, anchors, work):
    # A generator driven by audio 3 frames late draws at frame t what the truth shows at t - 3:
    # for a paired metric that is the ground truth's frames shifted by 3 against its record
    # (the first frame held), the best any generator with that offset can do.
    late = [encoded(np.concatenate([np.repeat(gt.frames[:1], 3, 0), gt.frames[:-3]]), gt.audio, work, "late")
            for _, gt, _ in suite]
    assert clearly_worse(scores(metric, late, suite), scores(metric, anchors["ground_truth"], suite))


def test_shuffled_expression_tracks_raise_expression_error_where_efid_does_not_move(suite, work):
    # Each clip's face and head motion, with the next clip's expression track: the pooled set of
    # expressions is the same, the pairing with the audio is gone.
    n = len(suite)
    in_sync, shuffled = [], []
    for i, (s, gt, p) in enumerate(suite):
        other = suite[(i + 1) % n][2]["expression"]
        in_sync.append(encoded(rerender(p, p["expression"]), gt.audio, work, "sync"))
        shuffled.append(encoded(rerender(p, other), gt.audio, work, "shuffled"))
    err_sync, err_shuffled = (scores(ExpressionErrorSynthetic, v, suite) for v in (in_sync, shuffled))
    assert clearly_worse(err_shuffled, err_sync)
    assert err_shuffled.mean() > 2 * err_sync.mean()

    def efid(gens):
        m = ExpressionFrechetDistanceSynthetic(n_boot=2)
        for i, ((s, gt, _), g) in enumerate(zip(suite, gens)):
            m.update(m.features(g, s), m.features(gt, s), sample_index=i)
        return m.compute().mean

    static = [Video(np.repeat(s.reference[None], gt.n_frames, 0), 25.0, gt.audio) for s, gt, _ in suite]
    e_sync, e_shuffled, e_static = efid(in_sync), efid(shuffled), efid(static)
    # E-FID sees the same pool either way: the shuffle moves it by a small fraction of the gap
    # between a still image and the truth.
    assert abs(e_shuffled - e_sync) < 0.1 * (e_static - e_sync), (e_sync, e_shuffled, e_static)


def test_a_recorded_ground_truth_is_cached_apart_from_the_backbones_view(suite, tmp_path):
    # The ground truth scored as a generated video, with the very same bytes: the generated side
    # is the inverse renderer's estimate, never the record found in the cache under the same hash.
    from fada_bench.scoring import Scorer, VideoFiles
    from fada_bench.store import RunStore, sha256_file

    s, _, _ = suite[0]
    m = LandmarkDistanceSynthetic()
    scorer = Scorer(RunStore(tmp_path), {m.key(): m})
    files = VideoFiles(lambda: s, s.video_path)
    first = scorer.score(m.key(), files, sha256_file(s.video_path))
    again = scorer.score(m.key(), VideoFiles(lambda: s, s.video_path), sha256_file(s.video_path))
    assert first["error"] is None and first["value"] > 0.005
    assert again["value"] == first["value"]
