"""Training objectives by recipe kind: what each kind trains and the loss of one batch. The loop
(`fada/train/trainer.py`) is shared.

Each objective is a module here that registers its class with `@OBJECTIVES.register("kind")`; the
modules are imported the first time a kind is looked up.
"""
from __future__ import annotations

import importlib
import pkgutil

from ...registry import Registry


def _import_objectives() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


OBJECTIVES: Registry = Registry("recipe kind", _import_objectives)


def make_objective(recipe):
    """The objective of a recipe's kind, built from the recipe."""
    return OBJECTIVES.get(recipe.kind)(recipe)
