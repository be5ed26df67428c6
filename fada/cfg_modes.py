"""CFG modes by name: how a generator is guided, and what CFG conditioning its denoiser carries.

- `multi`: Eq. 9, the teacher's three branches (audio and reference, reference only, neither) at
  every step, 3 NFE a step.
- `time_embed`, `layer`, `layer_tokens`: a CFG-distilled student that takes (cfg_a, cfg_r) as a
  condition (Table 4's variants; `layer_tokens` is Eq. 10), 1 NFE a step.
- `none`: the conditional output alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry

# How the pipeline combines the denoiser's outputs at each step.
GUIDANCE = ("multi", "student", "none")


@dataclass(frozen=True)
class CfgMode:
    guidance: str            # one of GUIDANCE
    denoiser_mode: str       # the denoiser's `cfg_mode`: "none", or the student's CFG conditioning
    cfg_layer: bool = False  # the student reads the scales through a CFG layer beside audio attention


CFG_MODES: Registry = Registry("CFG mode")
CFG_MODES.add("multi", CfgMode("multi", "none"))
CFG_MODES.add("layer_tokens", CfgMode("student", "layer_tokens", cfg_layer=True))
CFG_MODES.add("layer", CfgMode("student", "layer", cfg_layer=True))
CFG_MODES.add("time_embed", CfgMode("student", "time_embed"))
CFG_MODES.add("none", CfgMode("none", "none"))


def student_cfg_modes() -> list[str]:
    """The CFG conditionings a student denoiser can be built with (its `cfg_mode` besides "none")."""
    return [name for name, mode in CFG_MODES.items() if mode.guidance == "student"]
