"""Timing and memory that mean the same on CPU and GPU: CUDA work is asynchronous, so a stage's
clock is read only after the device has finished it; peak memory is CUDA's max allocated on a GPU
and the process's peak resident set on a CPU (which never goes down: an upper bound there)."""
from __future__ import annotations

import platform
import resource
import time

import torch


# The generator's timed stages (fada.pipeline), in the order they run.
STAGES = ("audio_encoder", "vae_encode", "reference_net", "denoise", "vae_decode")


def is_cuda(device: str | torch.device) -> bool:
    return torch.device(device).type == "cuda"


def sync(device: str | torch.device) -> None:
    # The current stream only: a decode overlapped on a side stream (fada.decode_overlap) must not
    # be waited for by the stage clocks of the work beside it.
    if is_cuda(device):
        torch.cuda.current_stream(torch.device(device)).synchronize()


def clock(device: str | torch.device) -> float:
    """perf_counter after the work queued on the device's current stream is done."""
    sync(device)
    return time.perf_counter()


def reset_peak_memory(device: str | torch.device) -> None:
    if is_cuda(device):
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def peak_memory_gb(device: str | torch.device) -> float:
    if is_cuda(device):
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20      # KiB on Linux


def allocated_gb(device: str | torch.device) -> float:
    """Memory held by live tensors now: CUDA's allocated bytes on a GPU; 0 on a CPU (which has no
    per-tensor count, only the process's resident set)."""
    return torch.cuda.memory_allocated(torch.device(device)) / 2 ** 30 if is_cuda(device) else 0.0


def device_name(device: str | torch.device) -> str:
    """The GPU's model for a CUDA device, else "cpu" (`processor_name` says which)."""
    return torch.cuda.get_device_name(torch.device(device)) if is_cuda(device) else "cpu"


def hardware_label(hw: dict, device: str = "cpu") -> str:
    """Where a run's wall-clock was measured, from the `hardware` record a run writes: the GPU's
    name on CUDA, else "AMD EPYC x1" (processor, torch threads). Threads rather than cores: two
    one-thread jobs on a 2-core machine are x1 each, the way training logs name them."""
    if str(device).startswith("cuda") and hw.get("cuda"):
        return str(hw["cuda"][0])
    threads = hw.get("torch_threads") or hw.get("cpu_count") or "?"     # runs before torch_threads: the cores
    return f"{hw.get('processor') or hw.get('machine') or 'cpu'} x{threads}"


def processor_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model, e.g. "AMD EPYC": two machines of one kind can differ ~2x in speed, so
    wall-clock figures carry it. platform.processor() is empty on Linux, so /proc/cpuinfo's
    "model name" comes first."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
