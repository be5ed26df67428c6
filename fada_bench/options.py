"""Checks of what a user asks for, made once, before any work starts.

Each command turns its options into a frozen config dataclass (`RunConfig`, `SweepConfig`,
`SpeedConfig`) whose `__post_init__` calls the checks here. A bad value raises `OptionError`,
whose message names the option, the value, the closest valid value and every valid one; the
command line prints it as one line and exits 2.

Valid names are never listed here: each comes from the registry or module that defines it,
through one accessor function each (`method_names`, `suite_names`, ...).

Sample ids and method names become file names in a run folder (`videos/METHOD/SAMPLE.mp4`), so
`check_name` refuses anything that is not a plain name: empty, absolute, holding a path
separator, or `.`/`..`. `check_choice`, `check_name` and `OptionError` are `fada.checks`' (the
training stack checks its recipes with them and never imports the harness), re-exported here.
"""
from __future__ import annotations

import re

import torch

from fada.checks import OptionError, check_choice, check_int, check_name, closest, name_problem  # noqa: F401


# ---------------------------------------------------------------------------- devices and dtypes

# The --dtype names and the torch dtype each one runs the models in.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def dtype_names() -> tuple[str, ...]:
    return tuple(DTYPES)


def check_dtype(dtype: str) -> str:
    return check_choice("--dtype", dtype, dtype_names())


def default_dtype(device: str) -> str:
    """fp32 on a CPU (bf16 matmuls there are slow and gain nothing); bf16 on a GPU."""
    return "fp32" if device == "cpu" else "bf16"


def _native_half_convolutions(dtype: str) -> bool:
    """Whether torch's oneDNN runs convolutions in this half dtype on this CPU (AVX-512 or AMX)."""
    check = {"bf16": "_is_mkldnn_bf16_supported", "fp16": "_is_mkldnn_fp16_supported"}[dtype]
    try:
        return bool(getattr(torch.ops.mkldnn, check)())
    except (AttributeError, RuntimeError):
        return False


def slow_dtype_warning(device: str, dtype: str | None) -> str | None:
    """A line for the user when --dtype asks for half precision on a CPU that has no native half
    convolution: torch then falls back to its reference convolution (an im2col copy and a matrix
    product per image).
    Measured on a 2-core AMD EPYC with AVX2 only (2026-12-04, one thread): FADA-Fast's 8 frames
    took 1.8 s in fp32 and 37.4 s in bf16, 87% of it in that convolution. None when nothing is slow."""
    if device != "cpu" or dtype not in ("bf16", "fp16") or _native_half_convolutions(dtype):
        return None
    return (f"--dtype {dtype} on this CPU: it has no native {dtype} convolution, so torch runs the generators' "
            "convolutions on its slow reference path (about 20 times fp32's time on an AVX2 CPU); "
            "fp32 is the fast choice here")


def check_device(device: str) -> str:
    """cpu, cuda, cuda:N (N below the device count) or mps; an accelerator torch cannot see is an error."""
    mps_built = hasattr(torch.backends, "mps") and torch.backends.mps.is_built()
    valid = ["cpu", "cuda", "cuda:N", *(["mps"] if mps_built else [])]
    if not isinstance(device, str):
        raise OptionError(f"--device must be a string, got {device!r}")
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if m:
        if not torch.cuda.is_available():
            raise OptionError(f"--device {device}, but torch sees no CUDA device here (torch {torch.__version__}); "
                              "use --device cpu")
        if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
            raise OptionError(f"--device {device}, but torch sees {torch.cuda.device_count()} CUDA device(s) "
                              f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return device
    if device == "mps" and mps_built:
        if not torch.backends.mps.is_available():
            raise OptionError("--device mps, but torch cannot use MPS on this machine; use --device cpu")
        return device
    return check_choice("--device", device, valid)


# ---------------------------------------------------------------------------- the lists of names
# One accessor per kind of name, each reading the one list that exists.

def _with_aliases(registry) -> list[str]:
    names = registry.names()
    return names + [a for n in names for a in registry.aliases_of(n)]


def method_names() -> list[str]:
    """Method card names and their aliases."""
    from .registry import METHODS

    return _with_aliases(METHODS)


def suite_names() -> list[str]:
    from .registry import SUITES

    return _with_aliases(SUITES)


def metric_names() -> list[str]:
    """What --metrics takes: registered names, result keys (`sync_d[synthetic]`) and bare names (`sync_d`)."""
    from .registry import METRICS

    out = _with_aliases(METRICS)
    for _, cls in METRICS.items():
        out += [cls.key(), cls.name]
    return list(dict.fromkeys(out))


def decoder_names() -> tuple[str, ...]:
    """What --decoder takes: the pipeline's decoders (the VAE's, or the fast one distilled from it)."""
    from fada.pipeline import DECODERS

    return DECODERS


def model_config_names() -> list[str]:
    from fada.models.configs import CONFIGS

    return list(CONFIGS)


def sweep_names() -> tuple[str, ...]:
    from .sweep import SWEEPS

    return SWEEPS
