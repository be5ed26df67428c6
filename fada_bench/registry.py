"""Everything the harness finds by name: methods, suites, adapters and metrics.

One generic `Registry` serves all four. Things register themselves where they are defined (a
decorator on the class, or a method card file), so nothing is listed in two places:

    @register_metric("sync_d")
    class SyncDistance(BenchMetric): ...

Metric modules are the files of `fada_bench.metrics`; they are imported, and so registered, the
first time a metric is looked up. Users add their own metrics, adapters or suites without editing
the package through plugins (`fada_bench/plugins.py`, `docs/plugins.md`).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
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
    check = getattr(cls, "available", None)
    if check is None:
        return True, ""
    ok, reason = check(world)
    return bool(ok), str(reason or "")


def list_metrics(world: str) -> list[tuple[str, type, bool, str]]:
    """(key, class, available, reason) for every registered metric, in registration order."""
    return [(key, cls, *metric_available(cls, world)) for key, cls in METRICS.items()]
