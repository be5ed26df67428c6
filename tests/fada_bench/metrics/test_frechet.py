"""The Fréchet distance shared by FID, FVD and E-FID, against scipy's sqrtm route (pytorch-fid's)."""
import numpy as np
import pytest
from scipy import linalg

from fada_bench.metrics.fid import frechet_distance, frechet_distance_rows, gaussian_stats


def scipy_frechet(mu1, s1, mu2, s2):
    """pytorch-fid's formula: tr of scipy.linalg.sqrtm(S1 S2), real part."""
    covmean = linalg.sqrtm(s1 @ s2)
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean)))


def random_gaussian(rng, d):
    a = rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [2, 16, 64, 256])
def test_matches_scipy_sqrtm_on_random_gaussians(d):
    rng = np.random.default_rng(d)
    for _ in range(3):
        (mu1, s1), (mu2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
        ours, ref = frechet_distance(mu1, s1, mu2, s2), scipy_frechet(mu1, s1, mu2, s2)
        assert ours == pytest.approx(ref, rel=1e-6)


def test_stats_are_mean_and_unbiased_covariance():
    x = np.random.default_rng(0).normal(size=(50, 4))
    mu, s = gaussian_stats(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(s, np.cov(x, rowvar=False))


def test_a_set_against_itself_is_zero_and_a_shift_costs_its_squared_length():
    x = np.random.default_rng(1).normal(size=(300, 32))
    assert frechet_distance_rows(x, x) < 1e-9
    c = np.linspace(-1, 1, 32)
    assert frechet_distance_rows(x, x + c) == pytest.approx(c @ c, rel=1e-9)


def test_rank_deficient_sets_give_a_finite_symmetric_value():
    # Fewer rows than dimensions (FVD on a few clips): scipy's sqrtm needs an eps there; ours not.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(10, 64)), rng.normal(1.0, 2.0, size=(12, 64))
    ab, ba = frechet_distance_rows(a, b), frechet_distance_rows(b, a)
    assert np.isfinite(ab) and ab > 0
    assert ab == pytest.approx(ba, rel=1e-9)


@pytest.mark.parametrize("n,d,constant_column", [(10, 64, False), (300, 32, False), (300, 32, True)])
def test_a_scaled_copy_gives_the_closed_form_for_any_rank(n, d, constant_column):
    # b = c a + s: S2 = c² S1, so tr((S1 S2)^½) = c tr(S1) and d² = |(1 - c) mu1 - s|² + (1 - c)² tr(S1),
    # whatever S1's rank. Fewer rows than dimensions factor the rows themselves; more rows factor
    # the covariance (Cholesky), or, with a constant column making it singular, its eigenvectors.
    rng = np.random.default_rng(n + d)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    if constant_column:
        a[:, 3] = 7.0
    c, shift = 2.5, rng.normal(size=d)
    mu, s1 = gaussian_stats(a)
    expected = np.sum(((1 - c) * mu - shift) ** 2) + (1 - c) ** 2 * np.trace(s1)
    assert frechet_distance_rows(a, c * a + shift) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(*gaussian_stats(a), *gaussian_stats(c * a + shift)) == pytest.approx(expected, rel=1e-10)


def bootstrap_replicate(rng, n_samples, frames, d):
    """Rows as a bootstrap replicate has them: whole samples (blocks of frames) drawn with
    replacement, so N = n_samples x frames rows of which only the drawn samples' are distinct."""
    blocks = [rng.normal(size=(frames, d)) @ rng.normal(size=(d, d)) for _ in range(n_samples)]
    return np.concatenate([blocks[i] for i in rng.integers(0, n_samples, n_samples)])


@pytest.mark.parametrize("n_samples,frames,d", [(6, 50, 256), (6, 6, 16), (3, 40, 32)])
def test_repeated_samples_give_the_closed_form(n_samples, frames, d):
    # More rows than dimensions. In the first case no more distinct rows than dimensions, so the
    # repeats are folded into weights; in the others the covariance is factored. The scaled-copy
    # closed form holds either way.
    rng = np.random.default_rng(frames + d)
    a = bootstrap_replicate(rng, n_samples, frames, d)
    c, shift = 0.4, rng.normal(size=d)
    mu, s1 = gaussian_stats(a)
    expected = np.sum(((1 - c) * mu - shift) ** 2) + (1 - c) ** 2 * np.trace(s1)
    assert frechet_distance_rows(a, c * a + shift) == pytest.approx(expected, rel=1e-10)


def test_repeated_samples_match_the_covariance_route():
    # Against the distance from the explicit mean and covariance (np.cov of all N rows). That route
    # takes a singular covariance's eigendecomposition, good to about 1e-8 here; a wrong weight
    # would be off by far more.
    rng = np.random.default_rng(5)
    a, b = bootstrap_replicate(rng, 6, 30, 64), rng.normal(size=(400, 64))
    assert frechet_distance_rows(a, b) == pytest.approx(frechet_distance(*gaussian_stats(a), *gaussian_stats(b)), rel=1e-6)
    still = np.repeat(rng.normal(size=(4, 64)), 25, axis=0)      # a still video: 25 copies of a frame
    assert frechet_distance_rows(still, b) == pytest.approx(frechet_distance(*gaussian_stats(still), *gaussian_stats(b)), rel=1e-6)


def test_different_rows_that_project_alike_are_not_folded_together(monkeypatch):
    # With a direction that sees only the first column, rows (1, 5) and (1, 7) project alike: they
    # must stay two rows, or the covariance (and the distance) would be wrong.
    from fada_bench.metrics import fid

    monkeypatch.setattr(fid, "_fold_direction", lambda d: np.eye(d)[0])
    x = np.array([[1.0, 5.0], [1.0, 7.0], [2.0, 0.0], [1.0, 5.0]])
    assert fid._fold_repeats(x, at_most=10) is None
    b = np.random.default_rng(6).normal(size=(20, 2))
    assert frechet_distance_rows(x, b) == pytest.approx(frechet_distance(*gaussian_stats(x), *gaussian_stats(b)), rel=1e-9)
    rows, counts = fid._fold_repeats(np.array([[1.0, 5.0], [2.0, 0.0], [1.0, 5.0], [1.0, 5.0]]), at_most=10)
    np.testing.assert_array_equal(rows, [[1.0, 5.0], [2.0, 0.0]])
    np.testing.assert_array_equal(counts, [3, 1])
    assert fid._fold_repeats(np.array([[1.0, 5.0], [2.0, 0.0], [3.0, 0.0]]), at_most=2) is None


def test_one_row_is_an_error_not_a_number():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance_rows(np.zeros((1, 3)), np.zeros((5, 3)))


def test_frame_stride_keeps_every_nth_frame_and_says_so():
    from fada.data.io import Video
    from fada_bench.metrics.fid import FrechetInceptionDistance

    class Embedder:
        name = "fake"

        def embed_frames(self, frames):
            return frames.reshape(len(frames), -1)[:, :3].astype(float)

    frames = np.arange(10 * 4 * 4 * 3, dtype=np.uint8).reshape(10, 4, 4, 3)
    video = Video(frames, 25.0, np.zeros(6400, np.float32), 16000)
    every = FrechetInceptionDistance.of(Embedder())
    third = FrechetInceptionDistance.of(Embedder(), frame_stride=3)
    assert every.features(video, None).shape[0] == 10 and every.sampling == "every frame"
    assert np.array_equal(third.features(video, None), every.features(video, None)[::3])
    assert third.sampling == "one frame in 3, from frame 0"
    with pytest.raises(ValueError, match="frame_stride"):
        FrechetInceptionDistance.of(Embedder(), frame_stride=0)
