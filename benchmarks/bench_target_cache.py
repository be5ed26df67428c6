"""Seconds per PeRFlow training step with and without the teacher-target cache.

    OMP_NUM_THREADS=1 python benchmarks/bench_target_cache.py [--data FOLDER] [--steps 12] [--recipe perflow_tiny]

The recipe as shipped (tiny config, 64 px, 8 frames, batch 4, K = 4, phi_steps 8), from the
shipped teacher (`teacher_tiny/model`), on FOLDER's training clips (default: a small synthetic world
made in a temporary folder: a step's cost does not depend on how many clips the set has). It
builds the cache for the steps first (that time is reported too: it is paid once per teacher and
training set, not once per row), then trains the same steps live and cached, alternating chunks of
`--chunk` steps (a resumed run), so that a change in the machine's load falls on both alike, and
reports the median of the trainer's logged seconds per step (each chunk's first step, which loads
its clips, excluded). Prints one JSON object; writes nothing outside the temporary folder.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml


def step_seconds(out: Path, chunk: int) -> list[float]:
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    return [r["sec"] for r in recs if (r["step"] - 1) % chunk]


def main() -> None:
    from fada.data.synthetic.build import WorldConfig, build_world
    from fada.profiling import processor_name
    from fada.train.recipe import RECIPES_DIR, load_recipe
    from fada.train.target_cache import build_target_cache
    from fada.train.trainer import train
    from fada_bench.weight_files.shipped import model_folder

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--recipe", default="perflow_tiny")
    ap.add_argument("--chunk", type=int, default=4)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-target-cache-") as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None:
            data = tmp / "world"
            build_world(data, WorldConfig(n_train=16, n_test=0, n_openset=0, size=64, seed=0))
        over = {"include": str(RECIPES_DIR / f"{args.recipe}.yaml"), "steps": args.steps, "log_every": 1,
                "checkpoint_every": 10 ** 6, "data": {"folder": str(data)},
                "objective": {"teacher": str(model_folder("teacher_tiny/model"))}}
        if args.data is None:
            over["data"]["tiers"] = ["A", "B"]      # a small world has few clean clips
        (tmp / "r.yaml").write_text(yaml.safe_dump(over))
        r = load_recipe(tmp / "r.yaml")
        t0 = time.perf_counter()
        build_target_cache(r, tmp / "cache")
        build_s = time.perf_counter() - t0
        for stop in range(args.chunk, args.steps + args.chunk, args.chunk):
            train(r, tmp / "live", stop_at=stop)
            train(r, tmp / "cached", stop_at=stop, target_cache=tmp / "cache")
        live, cached = step_seconds(tmp / "live", args.chunk), step_seconds(tmp / "cached", args.chunk)
        logs = [json.loads(x) for x in (tmp / "cached" / "log.jsonl").read_text().splitlines()]
        assert all(x["cached"] == 1 for x in logs), "every step should have read the cache"
        out = {"recipe": args.recipe, "steps": args.steps, "chunk": args.chunk, "measured_steps": len(live),
               "batch_size": r.optim.batch_size,
               "phi_steps": r.objective.phi_steps, "threads": torch.get_num_threads(),
               "processor": processor_name(),
               "live_s_per_step": statistics.median(live), "cached_s_per_step": statistics.median(cached),
               "speedup": statistics.median(live) / statistics.median(cached),
               "build_s_per_step": build_s / args.steps}
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
