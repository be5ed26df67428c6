"""The synthetic talking-face world: determinism, audio-driven motion, defects, splits."""
import numpy as np
import pytest

from fada.data.filters import articulation_signal
from fada.data.synthetic.build import WorldConfig, plan
from fada.data.synthetic.params import EX, LANDMARK_NAMES, NEUTRAL_POSE, PO, sample_identity
from fada.data.synthetic.render import render_face
from fada.data.synthetic.world import DEFECTS, MAX_OFFSET, apply_degradation, make_clip

IDENT = sample_identity(np.random.default_rng(11))


def expr(jaw=0.0, width=0.0, blink=0.0, brow=0.0):
    return np.array([jaw, width, blink, brow], np.float32)


def test_same_seed_same_clip_and_different_seed_differs():
    a, b = make_clip(5, IDENT, 20, 64), make_clip(5, IDENT, 20, 64)
    c = make_clip(6, IDENT, 20, 64)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.frames, c.frames)
    assert not np.array_equal(a.audio, c.audio)


def test_clip_shapes_and_audio_length():
    c = make_clip(1, IDENT, 50, 64)
    assert c.frames.shape == (50, 64, 64, 3) and c.frames.dtype == np.uint8
    assert c.audio.shape == (50 * 640,)
    assert c.expression.shape == (50, 4) and c.pose.shape == (50, 6) and c.landmarks.shape == (50, len(LANDMARK_NAMES), 2)


def test_rendering_is_antialiased(monkeypatch):
    # An anti-aliased render matches an 8x supersampled one (area-averaged down) closely;
    # the same renderer with hard 0/1 coverage is several times further off.
    import cv2

    from fada.data.synthetic import render

    e = expr(jaw=0.5)
    ref = cv2.resize(render_face(IDENT, e, NEUTRAL_POSE, 512)[0], (64, 64), interpolation=cv2.INTER_AREA).astype(int)
    aa_err = np.abs(render_face(IDENT, e, NEUTRAL_POSE, 64)[0].astype(int) - ref).mean()
    monkeypatch.setattr(render, "coverage", lambda d, pix: (d < 0).astype(np.float32))
    hard_err = np.abs(render_face(IDENT, e, NEUTRAL_POSE, 64)[0].astype(int) - ref).mean()
    assert aa_err < 0.5 and hard_err > 3 * aa_err, (aa_err, hard_err)


def test_jaw_open_shows_in_the_image_and_landmarks():
    closed, lm0 = render_face(IDENT, expr(jaw=0.0), NEUTRAL_POSE, 128)
    opened, lm1 = render_face(IDENT, expr(jaw=1.0), NEUTRAL_POSE, 128)
    top, bottom = LANDMARK_NAMES.index("mouth_top"), LANDMARK_NAMES.index("mouth_bottom")
    assert (lm1[bottom, 1] - lm1[top, 1]) > (lm0[bottom, 1] - lm0[top, 1]) + 5
    mouth = (slice(int(lm1[top, 1]) - 2, int(lm1[bottom, 1]) + 2), slice(int(lm1[3, 0]), int(lm1[4, 0])))
    assert np.abs(opened[mouth].astype(int) - closed[mouth].astype(int)).mean() > 20


@pytest.mark.parametrize("field,value", [("yaw", 0.5), ("pitch", 0.4), ("roll", 0.3), ("shift_x", 0.2), ("scale", 1.3)])
def test_each_pose_parameter_moves_the_face(field, value):
    base, lm0 = render_face(IDENT, expr(), NEUTRAL_POSE, 64)
    pose = NEUTRAL_POSE.copy()
    pose[PO[field]] = value
    moved, lm1 = render_face(IDENT, expr(), pose, 64)
    assert np.abs(lm1 - lm0).max() > 1.0
    assert not np.array_equal(base, moved)


@pytest.mark.parametrize("field", ["blink", "brow", "mouth_width"])
def test_each_expression_parameter_changes_the_image(field):
    e = expr()
    e[EX[field]] = 1.0
    assert not np.array_equal(render_face(IDENT, expr(), NEUTRAL_POSE, 64)[0], render_face(IDENT, e, NEUTRAL_POSE, 64)[0])


def test_jaw_follows_the_audio():
    # The articulation signal computed from the audio alone must track the jaw opening.
    corrs = []
    for seed in range(4):
        c = make_clip(seed, IDENT, 100, 32)
        a = articulation_signal(c.audio, 100)
        corrs.append(np.corrcoef(a, c.expression[:, EX["jaw_open"]])[0, 1])
    assert min(corrs) > 0.5, corrs


def test_offset_defect_shifts_the_audio_by_whole_frames():
    clean = make_clip(9, IDENT, 60, 32)
    shifted = make_clip(9, IDENT, 60, 32, ("offset",))
    k = shifted.audio_offset
    assert 3 <= abs(k) <= MAX_OFFSET
    assert np.array_equal(clean.frames, shifted.frames)
    # delivered[t] = clean[t - k]: compare the overlap sample by sample.
    s = k * 640
    if k > 0:
        assert np.allclose(shifted.audio[s:], clean.audio[:-s])
    else:
        assert np.allclose(shifted.audio[:s], clean.audio[-s:])


def test_mismatched_audio_keeps_face_changes_audio():
    clean = make_clip(4, IDENT, 40, 32)
    mm = make_clip(4, IDENT, 40, 32, ("mismatched_audio",))
    assert np.array_equal(clean.frames, mm.frames)
    assert abs(np.corrcoef(clean.audio, mm.audio)[0, 1]) < 0.2


def test_motion_defects():
    clean = make_clip(2, IDENT, 50, 32)
    frozen = make_clip(2, IDENT, 50, 32, ("frozen_motion",))
    wild = make_clip(2, IDENT, 50, 32, ("excessive_motion",))
    assert np.ptp(frozen.pose, axis=0).max() == 0
    assert np.abs(np.diff(wild.pose, axis=0)).mean() > 3 * np.abs(np.diff(clean.pose, axis=0)).mean()
    assert np.array_equal(clean.expression, frozen.expression)


@pytest.mark.parametrize("kind", ["blur", "noise", "compression"])
def test_image_defects_are_recorded_and_degrade(kind):
    clean = make_clip(8, IDENT, 10, 64)
    bad = make_clip(8, IDENT, 10, 64, (kind,))
    assert kind in bad.degradation and bad.defects == (kind,)
    assert np.abs(bad.frames.astype(int) - clean.frames.astype(int)).mean() > 1.0


def test_apply_degradation_grows_with_strength():
    frames = make_clip(1, IDENT, 4, 64).frames
    err = [np.abs(apply_degradation(frames, "blur", s).astype(int) - frames).mean() for s in (0.5, 1.5, 3.0)]
    assert err[0] < err[1] < err[2]


def test_unknown_defect_is_an_error():
    with pytest.raises(ValueError, match="unknown defects"):
        make_clip(1, IDENT, 5, 32, ("sparkles",))


def test_splits_keep_identities_apart_and_test_clips_stable():
    cfg = WorldConfig(n_train=40, n_test=10, n_openset=4, seed=1)
    specs = plan(cfg)
    by = {s: {c.identity for c in specs if c.split == s} for s in ("train", "test", "openset")}
    assert not (by["train"] & by["test"]) and not (by["train"] & by["openset"]) and not (by["test"] & by["openset"])
    assert all(not c.defects for c in specs if c.split != "train")
    assert any(c.defects for c in specs if c.split == "train") and any(not c.defects for c in specs if c.split == "train")
    # The test split does not depend on how many train clips there are.
    other = plan(WorldConfig(n_train=7, n_test=10, n_openset=4, seed=1))
    assert [c for c in specs if c.split == "test"] == [c for c in other if c.split == "test"]
    assert {d for c in plan(WorldConfig(n_train=400, seed=1)) for d in c.defects} == set(DEFECTS)


def test_openset_style_is_out_of_distribution():
    rng = np.random.default_rng(0)
    normal = np.stack([sample_identity(rng) for _ in range(200)])
    odd = np.stack([sample_identity(rng, "openset") for _ in range(200)])
    # Background stripes: rare and weak in the normal style, always strong in the open set.
    from fada.data.synthetic.params import ID
    assert normal[:, ID["bg_stripes"]].max() <= 0.3 < odd[:, ID["bg_stripes"]].min()


@pytest.mark.parametrize("per_pixel_colour", [False, True])
def test_compositing_only_the_covered_box_equals_compositing_the_whole_frame(per_pixel_colour):
    # `_over` updates only the box where alpha is nonzero; the whole-frame formula must give the
    # same frame to the bit, for a flat colour and for a colour image, and zero alpha changes nothing.
    from fada.data.synthetic.render import _over, capsule_sdf, coverage

    rng = np.random.default_rng(3)
    img = rng.random((48, 48, 3)).astype(np.float32)
    x, y = np.meshgrid(np.linspace(-1, 1, 48), np.linspace(-1, 1, 48))
    alpha = coverage(capsule_sdf(x, y, -0.3, 0.1, 0.2, 0.3, 0.05), 2.0 / 48) * 0.7    # float64, like the renderer's
    colour = (rng.random((48, 48, 3)) if per_pixel_colour else np.array([0.9, 0.2, 0.1])).astype(np.float32)
    assert 0 < (alpha > 0).mean() < 0.2
    whole = img.copy()
    whole += (colour - whole) * alpha[..., None]
    boxed = img.copy()
    _over(boxed, colour, alpha)
    assert np.array_equal(boxed, whole) and not np.array_equal(boxed, img)
    _over(boxed, colour, np.zeros_like(alpha))
    assert np.array_equal(boxed, whole)
