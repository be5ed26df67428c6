"""Training recipes: YAML data, parsed into frozen dataclasses. The loop is code (`trainer.py`).

A recipe may `include:` a parent recipe file (relative path) and override some of its fields;
nested sections (`data`, `optim`, `objective`) merge key by key. The merged recipe is checked
field by field before anything is built or loaded: an unknown key is an error naming the key, the
file that set it and the closest valid key, and a bad value names its field and file.

The `objective` section's fields depend on the recipe's `kind`: one frozen dataclass per kind,
named by the `spec` attribute of the objective registered for that kind in
`fada.train.objectives.OBJECTIVES` (`OBJECTIVE_SPECS` reads them from there, so the kinds a recipe
takes and the kinds that train are one list). The distillation kinds share `DistillSpec`. A new
objective option is a field with a default on its dataclass; a new kind is an objective module
whose class is registered and names its `spec`.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import ClassVar

import yaml

from ..checks import OptionError, check_choice, closest
from ..errors import InputError
from ..losses.mixed_supervision import MixedSupervision
from .objectives import OBJECTIVES

# Shipped inside the package (a wheel installs it as files, so include: paths resolve).
RECIPES_DIR = Path(str(resources.files("fada") / "recipes"))
TIERS = ("A", "B")
PARAMETERISATIONS = ("epsilon", "velocity")    # what a PeRFlow/RFlow student outputs
MIXED_PRECISION = ("no", "fp16", "bf16")


def _put(obj, name, value):
    object.__setattr__(obj, name, value)        # frozen: each field is normalised once, when checked


def _positive(obj, *names, minimum=1):
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum:
            raise OptionError(f"{n} must be a number of at least {minimum}, got {v!r}")


def _fraction(obj, *names):
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise OptionError(f"{n} must be a number from 0 to 1, got {v!r}")


def _range(obj, name):
    v = getattr(obj, name)
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v) or v[0] > v[1]:
        raise OptionError(f"{name} must be [low, high] with low <= high, got {v!r}")
    _put(obj, name, (float(v[0]), float(v[1])))


@dataclass(frozen=True)
class DataSpec:
    folder: str = "data/synthetic-train64"
    tiers: tuple[str, ...] = ("A",)        # A: strict set; (A, B): lenient
    n_frames: int = 8
    size: int = 64
    windows_per_clip: int = 4

    def __post_init__(self):
        _put(self, "tiers", tuple(self.tiers) if isinstance(self.tiers, (list, tuple)) else (self.tiers,))
        for t in self.tiers:
            check_choice("tier", t, TIERS)
        _positive(self, "n_frames", "size", "windows_per_clip")


@dataclass(frozen=True)
class OptimSpec:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    grad_clip: float = 1.0
    batch_size: int = 4          # global batch, split across processes
    grad_accum: int = 1

    def __post_init__(self):
        _put(self, "betas", tuple(self.betas))
        _positive(self, "batch_size", "grad_accum")
        _positive(self, "warmup_steps", "weight_decay", minimum=0)
        if not self.lr > 0 or not self.grad_clip > 0:
            raise OptionError(f"lr and grad_clip must be positive, got {self.lr!r}, {self.grad_clip!r}")


# ---------------------------------------------------------------------------- objectives, one per kind

@dataclass(frozen=True)
class ObjectiveSpec:
    """The `objective` section of a recipe; each kind's dataclass lists the keys it takes."""


@dataclass(frozen=True)
class VaeSpec(ObjectiveSpec):
    kl_weight: float = 1e-4

    def __post_init__(self):
        _positive(self, "kl_weight", minimum=0)


@dataclass(frozen=True)
class FastDecoderSpec(ObjectiveSpec):
    """A fast decoder distilled from a frozen VAE's (fada.models.fast_decoder): the loss is the VAE
    recipe's L1 + L2 against the VAE decoder's output, with no option of its own. The VAE is the
    recipe's top-level `vae:` folder, required for this kind."""
    needs_vae: ClassVar[bool] = True


@dataclass(frozen=True)
class TeacherSpec(ObjectiveSpec):
    """Eq. 1 with condition dropout for the three guidance branches."""
    p_drop_audio: float = 0.1           # branch r: reference only
    p_drop_both: float = 0.1            # branch b: neither

    def __post_init__(self):
        _fraction(self, "p_drop_audio", "p_drop_both")


@dataclass(frozen=True)
class DistillSpec(TeacherSpec):
    """Shared by every distillation kind: the frozen teacher and multi-CFG distillation (Sec. 3.3)."""
    teacher: str | None = None          # the teacher's model folder (required)
    num_windows: int = 4                # K of PeRFlow (rflow: one window whatever this says)
    phi_steps: int = 8                  # DDIM steps of the teacher inside a window (Eq. 2)
    cfg_mode: str = "none"              # none keeps the three branches; else the student learns Eq. 9's scales
    cfg_a_range: tuple[float, float] = (6.5, 6.5)
    cfg_r_range: tuple[float, float] = (2.5, 2.5)

    def __post_init__(self):
        from ..cfg_modes import student_cfg_modes

        super().__post_init__()
        if not self.teacher or not isinstance(self.teacher, str):
            raise OptionError("teacher (the teacher checkpoint folder) is required")
        _positive(self, "num_windows", "phi_steps")
        check_choice("cfg_mode", self.cfg_mode, ["none", *student_cfg_modes()])
        _range(self, "cfg_a_range")
        _range(self, "cfg_r_range")


@dataclass(frozen=True)
class PerflowSpec(DistillSpec):
    """PeRFlow (Eqs. 2-5) and RFlow, with optional adaptive mixed supervision (Eqs. 6-8):
    `mixed` absent: no ground-truth term; `none`: Fixed-0 (R logged, no L_gt gradient); a mapping:
    `fada.losses.mixed_supervision.MixedSupervision`'s fields (kind, w0, s, r_peak, r_dead)."""
    mixed: MixedSupervision | str | None = None
    # What the student outputs: "epsilon" (the teacher's parameterisation, converted to Eq. 4's
    # epsilon; the paper's) or "velocity" (the line's dz/dt: official PeRFlow's velocity matching,
    # Table 2's rflow_v row).
    parameterisation: str = "epsilon"

    NESTED: ClassVar[dict] = {"mixed": MixedSupervision}

    def __post_init__(self):
        super().__post_init__()
        check_choice("parameterisation", self.parameterisation, PARAMETERISATIONS)
        if self.mixed is not None and self.mixed != "none" and not isinstance(self.mixed, MixedSupervision):
            raise OptionError(f"mixed must be none or a mapping such as {{kind: adaptive, s: 0.25}}, got {self.mixed!r}")


@dataclass(frozen=True)
class TCDSpec(DistillSpec):
    """TCD (Table 2's baseline)."""
    ddim_steps: int = 50                # the solver grid; diffusers' TCDScheduler original_inference_steps
    target_ema: float = 0.95            # the target network's EMA decay

    def __post_init__(self):
        super().__post_init__()
        _positive(self, "ddim_steps")
        _fraction(self, "target_ema")


class _ObjectiveSpecs(Mapping):
    """Recipe kind -> the dataclass of its `objective` section: the `spec` of the objective
    registered for that kind (read from the registry at each lookup, never copied)."""

    def __getitem__(self, kind: str) -> type[ObjectiveSpec]:
        if kind not in OBJECTIVES:
            raise KeyError(kind)
        return OBJECTIVES.get(kind).spec

    def __iter__(self):
        return iter(OBJECTIVES.names())

    def __len__(self) -> int:
        return len(OBJECTIVES.names())


OBJECTIVE_SPECS: Mapping[str, type[ObjectiveSpec]] = _ObjectiveSpecs()


def recipe_kinds() -> tuple[str, ...]:
    """The registered objective kinds (`fada.train.objectives.OBJECTIVES`)."""
    return tuple(OBJECTIVES.names())


@dataclass(frozen=True)
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
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)
    source: str = ""

    NESTED: ClassVar[dict] = {"data": DataSpec, "optim": OptimSpec}

    def __post_init__(self):
        from ..models.configs import CONFIGS

        check_choice("kind", self.kind, recipe_kinds())
        check_choice("config", self.config, list(CONFIGS))
        check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _positive(self, "steps", "checkpoint_every", "log_every")
        _fraction(self, "ema_decay")
        if not isinstance(self.objective, OBJECTIVE_SPECS[self.kind]):
            raise OptionError(f"objective: a {self.kind} recipe takes {OBJECTIVE_SPECS[self.kind].__name__}, "
                              f"got {type(self.objective).__name__}")
        if getattr(self.objective, "needs_vae", False) and not self.vae:
            raise OptionError(f"vae: a {self.kind} recipe needs `vae:` (the model folder whose VAE it imitates)")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- reading

def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _origins(d: dict, path: Path, prefix: tuple = ()) -> dict[tuple, Path]:
    """(section, ..., key) -> the file that set it."""
    out = {}
    for k, v in d.items():
        out[(*prefix, k)] = path
        if isinstance(v, dict):
            out.update(_origins(v, path, (*prefix, k)))
    return out


def _read(path: Path, seen: tuple = ()) -> tuple[dict, dict[tuple, Path]]:
    """The recipe's fields with its includes merged, and the file each key came from."""
    if path in seen:
        raise InputError(f"{path}: recipe includes itself through {[str(p) for p in seen]}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a recipe is a mapping of fields")
    parent = raw.pop("include", None)
    here = _origins(raw, path)
    if parent:
        base, origins = _read((path.parent / parent).resolve(), seen + (path,))
        return _merge(base, raw), {**origins, **here}
    return raw, here


def _build(cls, values, prefix: str, origins: dict[tuple, Path], path: Path, nested: dict | None = None):
    """`cls(**values)`, each key checked: an unknown one names itself, its file and the closest key.
    A key in `nested` (or the class's NESTED) whose value is a mapping is built as that dataclass."""
    keys = tuple(prefix.rstrip(".").split(".")) if prefix else ()
    where = lambda k=None: origins.get((*keys, k) if k else keys, path)   # noqa: E731
    if not isinstance(values, dict):
        raise InputError(f"{where()}: {prefix.rstrip('.')} must be a mapping, got {values!r}")
    known = [f.name for f in fields(cls) if f.init and f.name != "source"]
    for k in values:
        if k not in known:
            near = closest(k, known)
            hint = f" (did you mean '{prefix}{near}'?)" if near else ""
            raise OptionError(f"{where(k)}: unknown recipe key '{prefix}{k}'{hint}; "
                              f"valid: {', '.join(prefix + n for n in known)}")
    nested = {**getattr(cls, "NESTED", {}), **(nested or {})}
    kw = {}
    for k, v in values.items():
        if k in nested and (isinstance(v, dict) or (v is None and k in ("data", "optim", "objective"))):
            v = _build(nested[k], v or {}, f"{prefix}{k}.", origins, path)
        kw[k] = v
    try:
        return cls(**kw)
    except (OptionError, ValueError, TypeError) as e:
        bad = next((k for k in values if f"{k} " in str(e) or str(e).startswith(k)), None)
        field_name = f"{prefix}{bad}" if bad else prefix.rstrip(".") or "recipe"
        raise OptionError(f"{where(bad)}: {field_name}: {e}") from None


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
    """The recipe, every field checked; nothing is loaded or built here."""
    path = find_recipe(name_or_path)
    values, origins = _read(path)
    values.setdefault("name", path.stem)
    values.setdefault("objective", {})        # no section: the kind's defaults
    kind = values.get("kind")
    check_choice("kind", kind, recipe_kinds(), where=str(origins.get(("kind",), path)))
    recipe = _build(Recipe, values, "", origins, path, {"objective": OBJECTIVE_SPECS[kind]})
    return dataclasses.replace(recipe, source=str(path))
