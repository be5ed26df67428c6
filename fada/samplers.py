"""The samplers a generator can run, by name: each builds its scheduler on the generator's noise
schedule. A method card's `sampler` and the pipeline's `sampler=` take these names."""
from __future__ import annotations

from .registry import Registry

SAMPLERS: Registry = Registry("sampler")

_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")


@SAMPLERS.register("ddim")
def ddim(common: dict, num_windows: int):
    from diffusers import DDIMScheduler

    # trailing spacing: the first step is at the noisiest training step, as training saw it
    return DDIMScheduler(**common, timestep_spacing="trailing", set_alpha_to_one=True, clip_sample=False)


@SAMPLERS.register("perflow")
def perflow(common: dict, num_windows: int):
    from .schedulers.scheduling_perflow import PeRFlowScheduler

    return PeRFlowScheduler(**common, num_windows=num_windows)


@SAMPLERS.register("rflow")
def rflow(common: dict, num_windows: int):
    from .schedulers.scheduling_perflow import PeRFlowScheduler

    # Rectified flow is the one-window case of the piecewise flow: one straight path from t = 1.
    return PeRFlowScheduler(**common, num_windows=1)


@SAMPLERS.register("tcd")
def tcd(common: dict, num_windows: int):
    from diffusers import TCDScheduler

    return TCDScheduler(**common, timestep_spacing="trailing", set_alpha_to_one=True, clip_sample=False)


def make_scheduler(sampler: str, schedule: dict, num_windows: int = 4):
    """The sampler's scheduler on the generator's noise schedule."""
    return SAMPLERS.get(sampler)({k: schedule[k] for k in _SCHEDULE_KEYS}, num_windows)
