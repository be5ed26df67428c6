"""What one bootstrap replicate of a per-set metric (FID, FVD, E-FID) costs at a given set size,
which says how long the 200-resample interval takes on real data (e.g. Inception's 2048
features for every frame of an HDTF test set).

Random features (the cost depends on the rows' count and width, not on their values): `--clips`
samples of `--frames` rows of `--dims` each, for the generated set and the reference. A
replicate draws the samples with replacement, as `fada_bench.metrics.stats.bootstrap_interval`
does, and computes `frechet_distance_rows` on the rows they own. The median of `--replicates`
is printed, with the 200-replicate total:

    OMP_NUM_THREADS=1 python benchmarks/frechet_replicate.py --clips 50 --frames 250 --dims 2048
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fada.profiling import processor_name
from fada_bench.metrics.fid import frechet_distance_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--frames", type=int, default=250, help="rows per sample (frames for FID and E-FID)")
    ap.add_argument("--dims", type=int, default=2048, help="feature width (Inception pool3: 2048)")
    ap.add_argument("--replicates", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.clips, args.frames, args.dims)
    gen, ref = rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32) + 0.1
    seconds = []
    for _ in range(args.replicates):
        pick = rng.integers(0, args.clips, args.clips)
        t = time.perf_counter()
        frechet_distance_rows(gen[pick].reshape(-1, args.dims), ref[pick].reshape(-1, args.dims))
        seconds.append(time.perf_counter() - t)
    s = float(np.median(seconds))
    print(f"{args.clips} samples x {args.frames} rows x {args.dims} dims, {processor_name()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}: {s:.2f} s per replicate "
          f"(median of {args.replicates}), 200 replicates {200 * s / 60:.1f} min")


if __name__ == "__main__":
    main()
