"""Training recipes: YAML data, validated into a dataclass. The loop is code (`trainer.py`).

A recipe may `include:` a parent recipe file (relative path) and override some of its fields;
nested sections (`data`, `optim`, `objective`) merge key by key.
"""
from __future__ import annotations

import os
from importlib import resources
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import InputError
from ..registry import UnknownNameError
from .objectives import OBJECTIVES

# Shipped inside the package (a wheel installs it as files, so include: paths resolve).
RECIPES_DIR = Path(str(resources.files("fada") / "recipes"))


@dataclass
class DataSpec:
    folder: str = "data/synthetic-train64"
    tiers: list[str] = field(default_factory=lambda: ["A"])   # A: strict set; ["A", "B"]: lenient
    n_frames: int = 8
    size: int = 64
    windows_per_clip: int = 4


@dataclass
class OptimSpec:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 100
    grad_clip: float = 1.0
    batch_size: int = 4          # global batch, split across processes
    grad_accum: int = 1


@dataclass
class Recipe:
    name: str
    kind: str
    config: str = "tiny"
    steps: int = 1000
    seed: int = 0
    parent: str | None = None           # checkpoint folder the models start from (a recipe's out dir)
    vae: str | None = None              # checkpoint folder whose VAE is used (frozen)
    ema_decay: float = 0.999
    mixed_precision: str = "no"         # no | fp16 | bf16
    checkpoint_every: int = 200
    log_every: int = 10
    data: DataSpec = field(default_factory=DataSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    objective: dict = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read(path: Path, seen: tuple = ()) -> dict:
    if path in seen:
        raise InputError(f"{path}: recipe includes itself through {[str(p) for p in seen]}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a recipe is a mapping of fields")
    parent = raw.pop("include", None)
    if parent:
        return _merge(_read((path.parent / parent).resolve(), seen + (path,)), raw)
    return raw


def _build(cls, values: dict, path: Path, prefix: str = ""):
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise InputError(f"{path}: unknown field(s) {', '.join(prefix + u for u in sorted(unknown))}; "
                         f"known: {', '.join(prefix + k for k in known)}")
    kw = {}
    for k, v in values.items():
        if k == "data":
            v = _build(DataSpec, v or {}, path, "data.")
        elif k == "optim":
            v = _build(OptimSpec, v or {}, path, "optim.")
        kw[k] = v
    try:
        return cls(**kw)
    except TypeError as e:
        raise InputError(f"{path}: {e}") from None


def find_recipe(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p.resolve()
    cand = RECIPES_DIR / f"{name_or_path}.yaml"
    if cand.is_file():
        return cand
    known = sorted(q.stem for q in RECIPES_DIR.glob("*.yaml") if not q.stem.startswith("_"))
    raise InputError(f"no recipe {str(name_or_path)!r} (not a file, not in {RECIPES_DIR}); known: {', '.join(known)}")


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    path = find_recipe(name_or_path)
    values = _read(path)
    values.setdefault("name", path.stem)
    recipe = _build(Recipe, values, path)
    try:
        OBJECTIVES.canonical(recipe.kind)
    except UnknownNameError as e:
        raise InputError(f"{path}: field 'kind': {e}") from None
    recipe.source = str(path)
    return recipe
