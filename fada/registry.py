"""One generic registry for every kind of name: samplers, CFG modes and training objectives here,
adapters, metrics, suites and methods in the harness.

Things register themselves where they are defined, with a decorator, so nothing is listed twice:

    @SAMPLERS.register("ddim")
    def ddim(common, num_windows): ...

A duplicate name is an error; a failed lookup lists the known names and the closest matches.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from .errors import InputError

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
