"""What one denoiser call costs for the teacher and for FADA-Fast, which says how close the
teacher / FADA-Fast ratio can come to the NFE ratio (75 / 6 = 12.5) before the fixed stages.

Random weights at the tiny config (speed does not depend on their values), one 16-frame window:
- `teacher x3`: the teacher's call with Eq. 9's three CFG branches batched (25 per window);
- `teacher x1`: the same network on one branch (the batch size of a student call);
- `fada_fast`: the CFG-distilled student's call (one branch, its CFG layers on; 6 per window).
The calls are timed round-robin, `--rounds` times each after three untimed ones; the minimum of
each is printed (the least disturbed by a shared machine), then the ratios:

    python benchmarks/denoiser_calls.py --threads 2 --rounds 20
"""
from __future__ import annotations

import argparse
import time

import torch

from fada_bench.registry import METHODS
from fada_bench.speed import denoiser_call, method_models


def call_of(method: str, branches: int, config: str = "tiny"):
    """One denoiser call of `method` (random weights) on a batch of `branches` clips."""
    card = METHODS.get(method)
    return denoiser_call(method_models(card, config, seed=0).eval(), card, branches=branches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    calls = {"teacher x3": call_of("teacher", 3), "teacher x1": call_of("teacher", 1),
             "fada_fast": call_of("fada_fast", 1)}
    for call in calls.values():
        for _ in range(3):
            call()
    seconds = {k: [] for k in calls}
    for _ in range(args.rounds):
        for k, call in calls.items():
            t0 = time.perf_counter()
            call()
            seconds[k].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in seconds.items()}
    for k, v in best.items():
        print(f"{k:>11}: {v * 1e3:.1f} ms per call (min of {args.rounds})")
    t3, t1, fast = best["teacher x3"], best["teacher x1"], best["fada_fast"]
    print(f"teacher x3 / teacher x1 = {t3 / t1:.2f} (3.00 if batching the branches bought nothing)")
    print(f"fada_fast / teacher x1 = {fast / t1:.3f} (the student's CFG layers)")
    print(f"denoising per window, teacher / fada_fast = 25 x {t3 * 1e3:.1f} / 6 x {fast * 1e3:.1f} ms "
          f"= {25 * t3 / (6 * fast):.2f} (NFE ratio 12.5)")


if __name__ == "__main__":
    main()
