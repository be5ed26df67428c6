"""FADA_BENCH_PLUGINS module for harness tests run in a subprocess: registers the toy metrics."""
from fada_bench.registry import METRICS
from harness_toys import TOYS

for key, cls in TOYS.items():
    if key not in METRICS._items:
        METRICS.add(key, cls)
