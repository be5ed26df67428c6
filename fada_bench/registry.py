"""Everything the harness finds by name: methods, suites, adapters and metrics.

One generic `Registry` serves all four. Things register themselves where they are defined (a
decorator on the class, or a method card file), so nothing is listed in two places:

    @register_metric("sync_d")
    class SyncDistance(BenchMetric): ...

Metric modules are the files of `fada_bench.metrics`; they are imported, and so registered, the
first time a metric is looked up. `METRICS` is the one catalogue of metrics: each registered class
declares its key, backbone and worlds, and `metric_catalogue()` reads them for `fada-bench list
metrics`, a run's default selection (every metric available in the suite's world) and the table in
docs/metrics.md (`fada-bench list metrics --markdown`). Users add their own metrics, adapters or suites without editing
the package through plugins (`fada_bench/plugins.py`, `docs/plugins.md`).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

from fada.registry import Registry, UnknownNameError  # noqa: F401  (re-exported: the harness's registries are these)

# ---------------------------------------------------------------------------- the registries

def _load_methods() -> None:
    from .cards import load_cards

    for card in load_cards():
        METHODS.add(card.name, card, card.aliases)


def _load_package(package: str) -> Callable[[], None]:
    """A loader that imports a package and its modules, so their decorators run."""
    def load() -> None:
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
        from .plugins import load_plugins

        load_plugins()
    return load


METHODS: Registry = Registry("method", _load_methods)
SUITES: Registry = Registry("suite", _load_package("fada_bench.suites"))
ADAPTERS: Registry = Registry("adapter", _load_package("fada_bench.adapters"))
METRICS: Registry = Registry("metric", _load_package("fada_bench.metrics"))


def register_metric(key: str, *aliases: str):
    """Class decorator for `BenchMetric` subclasses: `@register_metric("sync_d")`.

    The key is what `--metrics` takes. A metric may define a classmethod
    `available(world) -> (bool, reason)` saying whether its backbone's weights are present for the
    world ("synthetic" or "real"); without one it is taken as available."""
    def deco(cls):
        from .metrics.base import BenchMetric

        if not (inspect.isclass(cls) and issubclass(cls, BenchMetric)):
            raise TypeError(f"@register_metric({key!r}) decorates BenchMetric subclasses, got {cls!r}")
        METRICS.add(key, cls, aliases)
        return cls
    return deco


def metric_available(cls, world: str) -> tuple[bool, str]:
    """Whether a metric's backbone can run in `world`, and why not."""
    if world not in cls.worlds:
        return False, f"the {cls.backbone} backbone applies to the {' and '.join(cls.worlds)} world only"
    check = getattr(cls, "available", None)
    if check is None:
        return True, ""
    ok, reason = check(world)
    return bool(ok), str(reason or "")


@dataclass(frozen=True)
class MetricEntry:
    """One line of the metric catalogue, as the registered class declares it."""
    key: str                  # what --metrics and the results carry: name[backbone]
    name: str
    backbone: str
    worlds: tuple[str, ...]   # where its backbone applies: synthetic, real
    per_sample: bool          # False: one value per set, with a bootstrap interval
    higher_is_better: bool
    paper: bool               # a metric the paper reports
    long_video: bool          # scored only where a suite or --metrics names it


def metric_catalogue() -> list[MetricEntry]:
    """(key, backbone, worlds, ...) of every registered metric, in registration order."""
    return [MetricEntry(key, cls.name, cls.backbone, tuple(cls.worlds), bool(cls.per_sample),
                        bool(cls.higher_is_better), bool(cls.paper), bool(cls.long_video))
            for key, cls in METRICS.items()]


def metric_catalogue_markdown() -> str:
    """The catalogue as the markdown table of docs/metrics.md."""
    lines = ["| key | backbone | worlds | kind | better | notes |", "|---|---|---|---|---|---|"]
    for e in metric_catalogue():
        notes = [] if e.paper else ["beyond the paper"]
        if e.long_video:
            notes.append("long videos")
        lines.append(f"| `{e.key}` | {e.backbone} | {', '.join(e.worlds)} | "
                     f"{'per sample' if e.per_sample else 'per set'} | {'↑' if e.higher_is_better else '↓'} | "
                     f"{', '.join(notes)} |")
    return "\n".join(lines) + "\n"


def list_metrics(world: str) -> list[tuple[str, type, bool, str]]:
    """(key, class, available, reason) for every registered metric, in registration order."""
    return [(key, cls, *metric_available(cls, world)) for key, cls in METRICS.items()]
