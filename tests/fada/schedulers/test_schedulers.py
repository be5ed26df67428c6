"""Samplers: PeRFlow's window allocation and exactness on straight paths; the teacher's DDIM loop
against diffusers' DDIMScheduler driven by hand."""
import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from fada.models.bundle import SCHEDULES, build_models
from fada.pipeline import FadaPipeline, make_scheduler
from fada.schedulers.scheduling_perflow import PeRFlowScheduler, window_coefficients, window_step_counts


@pytest.mark.parametrize("K", range(1, 7))
@pytest.mark.parametrize("N", range(1, 13))
def test_step_allocation_rule(N, K):
    counts = window_step_counts(N, K)
    assert sum(counts) == N and len(counts) == K
    for i, c in enumerate(counts):  # from t = 1 down
        assert c == (N // K + 1 if i < N % K else N // K)


def test_paper_allocation_six_steps_four_windows():
    assert window_step_counts(6, 4) == [2, 2, 1, 1]
    s = PeRFlowScheduler(num_windows=4)
    s.set_timesteps(6)
    assert torch.allclose(s.continuous_timesteps, torch.tensor([1.0, 0.875, 0.75, 0.625, 0.5, 0.25], dtype=torch.float64))


@pytest.mark.parametrize("schedule", ["tiny", "sd15"])
@pytest.mark.parametrize("steps", [4, 6, 8, 11])
def test_perflow_lands_exactly_on_a_piecewise_straight_path(schedule, steps):
    # A toy field that is exactly straight inside each window: it knows the window's end points
    # and returns the Eq. 4 epsilon of that line. Sampling must pass through every end point.
    cfg = {k: v for k, v in SCHEDULES[schedule].items()}
    cfg["prediction_type"] = "epsilon"
    s = PeRFlowScheduler(**cfg, num_windows=4)
    g = torch.Generator().manual_seed(steps)
    ends = {k: torch.randn(2, 3, generator=g, dtype=torch.float64) for k in range(0, 5)}  # z at t_k = k/4

    def field(t: float) -> torch.Tensor:
        k = min(4, int(np.floor(t * 4 - 1e-9)) + 1)
        lam, eta = window_coefficients(s.alpha(k / 4), s.alpha((k - 1) / 4))
        return (ends[k - 1] - lam * ends[k]) / eta

    s.set_timesteps(steps)
    z = ends[4].clone()
    for t_cont, t in zip(s.continuous_timesteps, s.timesteps):
        z = s.step(field(float(t_cont)), t, z).prev_sample
    assert torch.allclose(z, ends[0], atol=1e-5), (z - ends[0]).abs().max()


def test_one_perflow_step_is_one_ddim_step():
    # Eq. 4: a DDIM step from t_k with the window's epsilon lands on z_{t_{k-1}}.
    s = PeRFlowScheduler(num_windows=4)
    z, eps = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    a0, a1 = s.alpha(1.0), s.alpha(0.75)
    x0 = (z - (1 - a0).sqrt() * eps) / a0.sqrt()
    ddim = a1.sqrt() * x0 + (1 - a1).sqrt() * eps
    s.set_timesteps(4)
    assert torch.allclose(s.step(eps, s.timesteps[0], z).prev_sample, ddim, atol=1e-10)


def test_alpha_matches_the_training_table():
    s = PeRFlowScheduler()
    T = 1000
    for tau in (0, 1, 500, 999):
        assert torch.isclose(s.alpha((tau + 1) / T), s.alphas_cumprod[tau])
    assert s.alpha(0.0) == 1.0


def test_teacher_ddim_loop_matches_diffusers_driven_by_hand():
    models = build_models("tiny", "none", seed=1)
    # give the zero-initialised layers some weight so every branch differs
    with torch.no_grad():
        for p in models.denoiser.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    pipe = FadaPipeline(models)
    den, F = models.denoiser, models.frames
    torch.manual_seed(0)
    bank = models.reference_net(torch.randn(1, 3, 8, 16, 16))
    audio = torch.randn(1, F + 4, 1, 64)
    cfg_a, cfg_r, steps = 6.5, 2.5, 5
    ours = pipe._denoise(make_scheduler("ddim", models.schedule), steps, bank, audio, (8, 16, 16),
                         torch.Generator().manual_seed(3), "multi", torch.tensor([[cfg_a, cfg_r]]), "ddim", 0.0)

    sched = DDIMScheduler(**{k: models.schedule[k] for k in ("num_train_timesteps", "beta_start", "beta_end",
                                                              "beta_schedule", "prediction_type")},
                          timestep_spacing="trailing", set_alpha_to_one=True, clip_sample=False)
    sched.set_timesteps(steps)
    z = torch.randn((1, F, 8, 16, 16), generator=torch.Generator().manual_seed(3))
    zero_bank = {k: torch.zeros_like(v) for k, v in bank.items()}
    with torch.no_grad():
        for t in sched.timesteps:
            e_a = den(z, t[None], audio, bank)                       # audio and reference
            e_r = den(z, t[None], torch.zeros_like(audio), bank)     # reference only
            e_b = den(z, t[None], torch.zeros_like(audio), zero_bank)  # neither
            eps = cfg_a * (e_a - e_r) + cfg_r * (e_r - e_b) + e_b  # Eq. 9 written out
            z = sched.step(eps[0], t, z[0]).prev_sample[None]
    assert torch.allclose(ours, z, atol=1e-5), (ours - z).abs().max()
