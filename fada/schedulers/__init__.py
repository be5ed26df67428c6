"""Samplers in diffusers' scheduler interface (`set_timesteps`, `step`), as diffusers exports its own."""
from .scheduling_perflow import PeRFlowScheduler, PeRFlowSchedulerOutput

__all__ = ["PeRFlowScheduler", "PeRFlowSchedulerOutput"]
