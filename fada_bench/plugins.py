"""Plugins: modules outside the package that register adapters, metrics or suites.

A plugin is a module named by an entry point of the group `fada_bench.plugins` in an installed
distribution (its `pyproject.toml`, see `docs/plugins.md`), or by `FADA_BENCH_PLUGINS`
(comma-separated module names importable from `sys.path`). Each is imported once: at the start of
every `fada-bench` command, and otherwise at the first lookup in a registry. It registers with the
project's own decorators (`@ADAPTERS.register`, `@register_metric`, `@SUITES.register`).
"""
from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Callable

from fada.errors import InputError

GROUP = "fada_bench.plugins"

_loaded = False


class PluginError(InputError):
    """A plugin that cannot be imported or that breaks a registry's rules; names the plugin."""


def plugin_modules() -> list[tuple[str, str, Callable[[], object]]]:
    """(name, where it comes from, import it) for every plugin, entry points first."""
    found = []
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        source = f"entry point {ep.name} = {ep.value}" + (f" of {dist.name}" if dist is not None else "")
        found.append((ep.name, source, ep.load))
    for mod in filter(None, (m.strip() for m in os.environ.get("FADA_BENCH_PLUGINS", "").split(","))):
        found.append((mod, "FADA_BENCH_PLUGINS", lambda mod=mod: importlib.import_module(mod)))
    return found


def load_plugins() -> None:
    """Import every plugin, once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    plugins = plugin_modules()
    if not plugins:
        return
    from .registry import ADAPTERS, METRICS, SUITES

    # The package's own names first, so that a plugin reusing one gets the duplicate-name error.
    # (Each registry's first lookup calls this function again; `_loaded` ends that there.)
    for registry in (ADAPTERS, METRICS, SUITES):
        registry.names()
    for name, source, load in plugins:
        try:
            load()
        except Exception as e:
            _loaded = False      # a later import of fada_bench reports it again rather than going on without it
            raise PluginError(f"plugin {name!r} ({source}) failed to load: {type(e).__name__}: {e}") from e
