"""Distillation losses: Eqs. 3-4 identities, an analytic Gaussian teacher, and W(R) of Eqs. 6-8."""
import pytest
import torch

from fada.losses.mixed_supervision import MixedSupervision, mixed_loss, mixed_supervision_weight
from fada.losses.perflow import (ddim_step, distill_loss, epsilon_target, ground_truth_endpoint, interpolate,
                                 teacher_endpoint)
from fada.schedulers.scheduling_perflow import PeRFlowScheduler

torch.manual_seed(0)
S = PeRFlowScheduler()  # SD's scaled_linear schedule


def test_one_ddim_step_with_the_eq4_epsilon_lands_on_the_end_point():
    z_start, z_end = torch.randn(6, 3, 4, 4, dtype=torch.float64), torch.randn(6, 3, 4, 4, dtype=torch.float64)
    for k in (4, 3, 2, 1):
        a0, a1 = S.alpha(k / 4), S.alpha((k - 1) / 4)
        eps = epsilon_target(z_start, z_end, a0, a1)
        assert torch.allclose(ddim_step(z_start, eps, a0, a1), z_end, atol=1e-5)


def test_eq3_gives_the_end_points_at_the_window_bounds():
    z0, z1 = torch.randn(5, 8), torch.randn(5, 8)
    t0, t1 = torch.full((5,), 0.75), torch.full((5,), 0.5)
    assert torch.allclose(interpolate(z0, z1, t0, t0, t1), z0)
    assert torch.allclose(interpolate(z0, z1, t1, t0, t1), z1)
    mid = interpolate(z0, z1, torch.full((5,), 0.625), t0, t1)
    assert torch.allclose(mid, (z0 + z1) / 2)


# Analytic Gaussian: data z0 ~ N(mu, sigma^2 I). With z_t = sqrt(a) z0 + sqrt(1-a) eps,
# E[eps | z_t] = sqrt(1-a) (z_t - sqrt(a) mu) / (a sigma^2 + 1 - a): the exact epsilon-predictor.
MU, SIGMA = 0.7, 0.5


def exact_eps(z, t):
    a = S.alpha(t).to(z.dtype)
    a = a.view(-1, *([1] * (z.ndim - 1))) if a.ndim else a
    return (1 - a).sqrt() * (z - a.sqrt() * MU) / (a * SIGMA ** 2 + 1 - a)


def test_teacher_endpoint_matches_the_closed_form_ddim_map():
    # Each DDIM step with the exact Gaussian predictor is affine: z' = c z + d, with c, d in closed form.
    z = torch.randn(4, 16, dtype=torch.float64)
    t0, t1, n = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.75, dtype=torch.float64), 5
    got = teacher_endpoint(exact_eps, z, t0, t1, n, S.alpha)
    want = z.clone()
    for i in range(n):
        ta, tb = t0 + (t1 - t0) * i / n, t0 + (t1 - t0) * (i + 1) / n
        a, b = float(S.alpha(ta)), float(S.alpha(tb))
        g = (1 - a) ** 0.5 / (a * SIGMA ** 2 + 1 - a)           # eps = g (z - sqrt(a) mu)
        c_x0 = (1 - (1 - a) ** 0.5 * g) / a ** 0.5               # x0 = c_x0 z + d_x0
        d_x0 = (1 - a) ** 0.5 * g * a ** 0.5 * MU / a ** 0.5
        c = b ** 0.5 * c_x0 + (1 - b) ** 0.5 * g
        d = b ** 0.5 * d_x0 - (1 - b) ** 0.5 * g * a ** 0.5 * MU
        want = c * want + d
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_student_trained_on_perflow_targets_approaches_the_teacher_window_map():
    # For Gaussian data the Eq. 4 target is affine in the point on the line, with coefficients that
    # depend on where on the line it is (s). A student eps = P(s) z + Q(s), P and Q quadratic in s,
    # trained briefly on targets from the exact teacher reproduces the teacher's window map: one
    # student step lands where the teacher's 8 DDIM steps do.
    torch.manual_seed(1)
    t0, t1 = torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.25, dtype=torch.float64)
    a0, a1 = S.alpha(t0), S.alpha(t1)
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    q = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p, q], lr=0.05)

    def student(z, s):
        basis = torch.cat([torch.ones_like(s), s, s * s], dim=1)
        return (basis @ p)[:, None] * z + (basis @ q)[:, None]
    for _ in range(400):
        z0 = MU + SIGMA * torch.randn(256, 1, dtype=torch.float64)
        eps = torch.randn_like(z0)
        zs = a0.sqrt() * z0 + (1 - a0).sqrt() * eps               # standpoint from the data marginal
        ze = teacher_endpoint(exact_eps, zs, t0, t1, 8, S.alpha)
        target = epsilon_target(zs, ze, a0, a1)
        u = torch.rand(256, 1, dtype=torch.float64)
        zt = interpolate(zs, ze, t0 + u * (t1 - t0), t0, t1)      # the student sees points on the line
        loss = distill_loss(student(zt, u), target).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = a0.sqrt() * (MU + SIGMA * torch.randn(1000, 1, dtype=torch.float64)) + (1 - a0).sqrt() * torch.randn(1000, 1, dtype=torch.float64)
    with torch.no_grad():
        one_step = ddim_step(z, student(z, torch.zeros_like(z)), a0, a1)
    teacher = teacher_endpoint(exact_eps, z, t0, t1, 8, S.alpha)
    untrained = ddim_step(z, torch.zeros_like(z), a0, a1)
    err = (one_step - teacher).abs().max()
    assert err < 0.02 and err < 0.1 * (untrained - teacher).abs().max()


def test_ground_truth_endpoint_uses_the_same_noise():
    z0, eps = torch.randn(3, 5), torch.randn(3, 5)
    a = S.alpha(0.5).float()
    assert torch.allclose(ground_truth_endpoint(z0, eps, a), a.sqrt() * z0 + (1 - a).sqrt() * eps)


def test_adaptive_weight_pieces():
    cfg = MixedSupervision()  # s = 0.25, W0 = 0.2, R_p = 30, R_d = 100
    r = torch.tensor([0.0, 1.0, 16.0, 29.999, 30.0, 65.0, 99.999, 100.0, 500.0])
    w = mixed_supervision_weight(r, cfg)
    assert w[0] == 0 and w[1] == pytest.approx(0.2) and w[2] == pytest.approx(0.2 * 2)
    peak = 0.2 * 30 ** 0.25
    assert w[3] == pytest.approx(peak, rel=1e-4) and w[4] == pytest.approx(peak)       # continuous at R_p
    assert w[5] == pytest.approx(peak * 0.5)
    assert w[6] == pytest.approx(0.0, abs=1e-4) and w[7] == 0 and w[8] == 0           # zero from R_d on


def test_table3_variants():
    r = torch.tensor([0.5, 50.0, 200.0])
    assert torch.equal(mixed_supervision_weight(r, MixedSupervision("fixed", w0=1.0)), torch.ones(3))
    unl = mixed_supervision_weight(r, MixedSupervision("adaptive_unlimited", s=0.5))
    assert torch.allclose(unl, 0.2 * r.sqrt())   # grows without bound: no peak, no dead threshold
    assert mixed_supervision_weight(r, MixedSupervision("adaptive", s=0.5))[2] == 0


def test_no_gradient_flows_through_the_weight():
    l_distill = torch.tensor([1.0, 2.0], requires_grad=True)
    l_gt = torch.tensor([3.0, 500.0], requires_grad=True)
    total, ratio, w = mixed_loss(l_distill, l_gt, MixedSupervision())
    total.sum().backward()
    # d total / d l_distill = 1 (W is a constant), d total / d l_gt = W
    assert torch.allclose(l_distill.grad, torch.ones(2))
    assert torch.allclose(l_gt.grad, w)
    assert w[1] == 0 and ratio[1] == 250.0
    fixed0, _, w0 = mixed_loss(l_distill, l_gt, None)
    assert torch.equal(fixed0, l_distill) and w0.sum() == 0


# TCD (Table 2's baseline): the trajectory consistency function and its time sampling.
def test_tcd_function_is_diffusers_ddim_between_grid_points():
    from diffusers import DDIMScheduler

    from fada.losses.tcd import trajectory_consistency

    ref = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                        set_alpha_to_one=True)
    z, eps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    N = 50                                            # grid point n / N is training timestep 20 n - 1
    for n_from, n_to in ((10, 5), (10, 0), (50, 49), (3, 1)):
        gap = 20 * (n_from - n_to)
        ref.set_timesteps(1000 // gap)                # diffusers steps from t to t - 1000 // num_inference_steps
        want = ref.step(eps, 20 * n_from - 1, z).prev_sample
        got = trajectory_consistency(z, eps, S.alpha(n_from / N), S.alpha(n_to / N))
        assert torch.allclose(got, want, atol=1e-5), (n_from, n_to)
    assert torch.allclose(trajectory_consistency(z, eps, S.alpha(0.4), S.alpha(0.4)), z, atol=1e-6)   # f(z, t, t) = z


def test_tcd_times_follow_the_solver_grid():
    from fada.losses.tcd import sample_tcd_times

    N, n_draws = 10, 20000
    g = torch.Generator().manual_seed(0)
    t_start, t_mid, t_s = sample_tcd_times(torch.rand(n_draws, generator=g), torch.rand(n_draws, generator=g), N)
    assert torch.allclose(t_start - t_mid, torch.full_like(t_start, 1 / N))
    assert bool((t_s <= t_mid + 1e-12).all()) and bool((t_s >= 0).all())
    for t in (t_start, t_mid, t_s):
        assert torch.allclose(t * N, (t * N).round())
    # n uniform on {0..N-1}: each count within 5 standard deviations of n_draws / N
    n = (t_mid * N).round().long()
    counts = torch.bincount(n, minlength=N).double()
    sd = (n_draws * (1 / N) * (1 - 1 / N)) ** 0.5
    assert bool(((counts - n_draws / N).abs() < 5 * sd).all()), counts
    # given n, m is uniform on {0..n}: for n = N - 1, the mean of m is (N - 1) / 2
    m_top = (t_s[n == N - 1] * N).round()
    assert abs(float(m_top.mean()) - (N - 1) / 2) < 5 * float(m_top.std()) / len(m_top) ** 0.5
