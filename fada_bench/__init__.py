"""fada-bench: the FADA benchmark harness.

The public API, for plugins and scripts (`docs/plugins.md`):

    from fada_bench import ADAPTERS, Adapter, Generation, Sample, with_sample_audio

Plugins (entry-point group `fada_bench.plugins`, and the modules named in FADA_BENCH_PLUGINS) are
imported once: at the start of every `fada-bench` command, and in a script at the first lookup in
a registry.
"""
from .adapters import Adapter, with_sample_audio
from .registry import ADAPTERS, METHODS, METRICS, SUITES, register_metric
from .types import Generation, Sample

__all__ = ["ADAPTERS", "METHODS", "METRICS", "SUITES", "Adapter", "Generation", "Sample", "register_metric",
           "with_sample_audio"]
