"""The one squared-error distance every loss here uses: the mean over all but the batch
dimension, in float32 so that mixed-precision training does not square in half precision."""
from __future__ import annotations

import torch


def per_sample_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred.float() - target.float()) ** 2).flatten(1).mean(1)
