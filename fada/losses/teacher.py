"""The teacher's loss (paper Eq. 1) with the condition dropout that creates Eq. 9's three branches.

    L_tea = E || eps - eps_tea(z_t, t, c) ||^2,  z_t = sqrt(alpha_t) z_0 + sqrt(1 - alpha_t) eps

For a v-prediction teacher (the tiny config) the same expectation is taken over
v = sqrt(alpha_t) eps - sqrt(1 - alpha_t) z_0, the target that weights the noisiest steps enough
for the identity's colours to be learnt; epsilon follows from v and z_t exactly.
"""
from __future__ import annotations

import torch

from .distance import per_sample_mse

# branch codes of a training sample: 0 = a (audio + reference), 1 = r (reference only), 2 = b (neither)
BRANCH_A, BRANCH_R, BRANCH_B = 0, 1, 2


def sample_branches(u: torch.Tensor, p_drop_audio: float, p_drop_both: float) -> torch.Tensor:
    """From one uniform draw per sample: drop both conditions with p_drop_both, the audio only with
    p_drop_audio, else keep both. The teacher then knows all three of Eq. 9's branches."""
    out = torch.full(u.shape, BRANCH_A, dtype=torch.long)
    out[u < p_drop_audio + p_drop_both] = BRANCH_R
    out[u < p_drop_both] = BRANCH_B
    return out


def apply_dropout(branches: torch.Tensor, audio: torch.Tensor, bank: dict[str, torch.Tensor]):
    """Zero the audio features of branches r and b and the reference tokens of branch b."""
    keep_audio = (branches == BRANCH_A).to(audio.dtype).view(-1, *([1] * (audio.ndim - 1)))
    keep_ref = (branches != BRANCH_B)
    bank = {k: v * keep_ref.to(v.dtype).view(-1, 1, 1) for k, v in bank.items()}
    return audio * keep_audio, bank


def diffusion_target(prediction_type: str, z0: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """What the network is trained to output at noise level alpha (broadcastable to z0)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return alpha.sqrt() * noise - (1 - alpha).sqrt() * z0
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")


# Eq. 1, per sample.
teacher_loss = per_sample_mse
