"""Everything the harness finds by name: methods, suites, adapters and metrics.

One generic `Registry` serves all four. Things register themselves where they are defined (a
decorator on the class, or a method card file), so nothing is listed in two places:

    @register_metric("sync_d")
    class SyncDistance(BenchMetric): ...

Metric modules are the files of `fada_bench.metrics`; they are imported, and so registered, the
first time a metric is looked up. Users add their own metrics, adapters or suites without editing
the package by naming modules in `FADA_BENCH_PLUGINS` (comma-separated, importable from
`sys.path`), which are imported at the same moment.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import os
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

from fada.errors import InputError

T = TypeVar("T")


class UnknownNameError(InputError):
    """A name that is not registered; the message lists the known names and the close matches."""


class Registry(Generic[T]):
    """Names (and aliases) to objects. `loader`, when given, is called once before the first
    lookup, to import the modules or read the files that fill the registry."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._loader = loader
        self._loaded = loader is None

    # ------------------------------------------------------------------ registration
    def add(self, name: str, obj: T, aliases: tuple[str, ...] | list[str] = ()) -> T:
        for n in (name, *aliases):
            if not isinstance(n, str) or not n:
                raise ValueError(f"{self.kind} names must be non-empty strings, got {n!r}")
            if n in self._items or n in self._aliases:
                owner = self._aliases.get(n, n)
                raise ValueError(f"duplicate {self.kind} name {n!r}: already registered for {owner!r}")
        self._items[name] = obj
        for a in aliases:
            self._aliases[a] = name
        return obj

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Class (or function) decorator: `@REG.register("name", "alias")`."""
        def deco(obj: T) -> T:
            self.add(name, obj, aliases)
            return obj
        return deco

    def remove(self, name: str) -> None:
        """Drop a name and its aliases (tests register toys and clean up after themselves)."""
        self._items.pop(name, None)
        for a in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[a]

    # ------------------------------------------------------------------ lookup
    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True   # first, so that a loader that looks things up does not recurse
            try:
                self._loader()
            except BaseException:
                self._loaded = False
                raise

    def canonical(self, name: str) -> str:
        self._load()
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._items)
        close = difflib.get_close_matches(name, known + sorted(self._aliases), n=3, cutoff=0.6)
        # Metric keys carry their backbone (sync_d[synthetic]): match on the name part too.
        bare = {k.split("[")[0]: k for k in known if "[" in k}
        close += [bare[b] for b in difflib.get_close_matches(name, list(bare), n=3, cutoff=0.6) if bare[b] not in close]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} Known {self.kind}s: "
                               f"{', '.join(known) if known else '(none registered)'}")

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def aliases_of(self, name: str) -> list[str]:
        self._load()
        return sorted(a for a, n in self._aliases.items() if n == name)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(list(self._items.items()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items or name in self._aliases


# ---------------------------------------------------------------------------- plugins

def import_plugins() -> None:
    """Import the modules named in FADA_BENCH_PLUGINS (once each; Python caches imports)."""
    for mod in filter(None, (m.strip() for m in os.environ.get("FADA_BENCH_PLUGINS", "").split(","))):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise InputError(f"FADA_BENCH_PLUGINS names {mod!r}, which cannot be imported: {e}") from None


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
        import_plugins()
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
