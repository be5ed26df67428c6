"""Method cards: one YAML file per method, `NAME.yaml`, checked against a schema. The package ships
its cards in `fada_bench/data/methods/`; FADA_BENCH_METHODS adds folders of the user's own.

    include: teacher.yaml       # optional: start from another card, then override fields
    name: teacher_b             # optional; must equal the file name
    description: Teacher trained on the lenient set B
    adapter: fada               # an adapter kind (`fada-bench list adapters`)
    checkpoint: teacher_b_tiny/model   # fada: model folder under the checkpoints folder (runs/), or absolute
    recipe: teacher_b_tiny      # fada: the training recipe that writes it [default: the checkpoint's first part]
    sampler: ddim               # fada: a sampler of fada.samplers (ddim, perflow, rflow, tcd)
    steps: 25                   # fada: denoising steps per clip window
    cfg: {mode: multi, audio: 6.5, ref: 2.5}   # mode: a CFG mode of fada.cfg_modes (multi, layer_tokens, ...)
    expected_nfe: 75            # shown by `list`; the run reports the counted value, never this
    paper: [{table: 2, row: Teacher with B}]   # rows of the paper's tables this method reproduces
    aliases: [student_b]        # other names for the same method (the same run)
    folder: data/baselines/x    # precomputed: FOLDER/SAMPLE_ID.mp4 [default: data/baselines/NAME]
    command: "tool --ref {ref} --audio {audio} --out {out}"   # command: a shell template
    timeout_s: 600              # command: seconds per sample
    options: {pixels: 3}        # a plugin adapter's own settings (docs/plugins.md)

`name`, `aliases` and `paper` describe one card and are not inherited through `include`; `cfg`
and `options` are merged key by key; every other field of the included card is kept unless overridden.

Which of the adapter fields (`ADAPTER_FIELDS`) a card needs and may set is declared by its adapter
class (`requires`, `accepts`); kinds, samplers and CFG modes are the registries' names.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fada.cfg_modes import CFG_MODES
from fada.errors import InputError
from fada.registry import Registry, UnknownNameError
from fada.samplers import SAMPLERS

from .options import check_name
from .paths import methods_dirs

NOT_INHERITED = ("name", "aliases", "paper")
# The fields a card hands to its adapter; each adapter class says which it needs and reads.
ADAPTER_FIELDS = ("checkpoint", "recipe", "sampler", "steps", "cfg", "folder", "command", "timeout_s", "options")


class CardError(InputError):
    """A method card that breaks the schema; the message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str | None, problem: str):
        where = f"{path}: field '{field_name}'" if field_name else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class CfgSpec:
    mode: str = "none"
    audio: float | None = None    # cfg_a of Eq. 9
    ref: float | None = None      # cfg_r of Eq. 9


@dataclass(frozen=True)
class PaperRow:
    table: int
    row: str


@dataclass(frozen=True)
class MethodCard:
    name: str
    adapter: str
    path: Path
    description: str = ""
    aliases: tuple[str, ...] = ()
    checkpoint: str | None = None
    recipe: str | None = None
    sampler: str | None = None
    steps: int | None = None
    cfg: CfgSpec = CfgSpec()
    expected_nfe: int | None = None
    paper: tuple[PaperRow, ...] = ()
    folder: str | None = None
    command: str | None = None
    timeout_s: float = 600.0
    options: dict = field(default_factory=dict, hash=False)

    def fingerprint(self) -> str:
        """A hash of the fields that decide what the method generates; a finished sample whose
        record carries another fingerprint is generated again."""
        keep = ("adapter", "checkpoint", "sampler", "steps", "cfg", "folder", "command")
        d = {k: dataclasses.asdict(self)[k] for k in keep}
        if self.options:    # only when set, so the fingerprints of cards without options stay as they were
            d["options"] = self.options
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def summary_line(self) -> dict[str, str]:
        guided = self.cfg.mode != "none"
        cfg = self.cfg.mode if guided or self.sampler else "-"
        if guided:
            scales = ", ".join(f"{k} {v:g}" for k, v in (("a", self.cfg.audio), ("r", self.cfg.ref)) if v is not None)
            cfg += f" ({scales})" if scales else ""
        return {"adapter": self.adapter, "sampler": self.sampler or "-",
                "steps": "-" if self.steps is None else str(self.steps), "cfg": cfg,
                "expected_nfe": "-" if self.expected_nfe is None else str(self.expected_nfe)}


_FIELDS = [f.name for f in dataclasses.fields(MethodCard) if f.name != "path"] + ["include"]


# ---------------------------------------------------------------------------- reading

def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CardError(path, None, f"not valid YAML ({e})") from None
    except OSError as e:
        raise CardError(path, None, f"cannot be read ({e.strerror})") from None
    if not isinstance(data, dict):
        raise CardError(path, None, "must be a mapping of field: value")
    return data


def _find_include(name: str, including: Path, dirs: list[Path]) -> Path:
    for d in (including.parent, *dirs):
        p = d / name
        if p.is_file():
            return p
    raise CardError(including, "include", f"{name!r} not found beside the card or in "
                                          f"{', '.join(str(d) for d in dirs)}")


def _raw_card(path: Path, dirs: list[Path], seen: tuple[Path, ...] = ()) -> dict:
    """The card's fields with its includes resolved (the including card's fields win)."""
    path = path.resolve()
    if path in seen:
        raise CardError(path, "include", "includes itself through " + " -> ".join(p.name for p in (*seen, path)))
    data = _read_yaml(path)
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], _FIELDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise CardError(path, unknown[0], f"unknown field{hint}; known fields: {', '.join(_FIELDS)}")
    parent_name = data.pop("include", None)
    if parent_name is None:
        return data
    if not isinstance(parent_name, str):
        raise CardError(path, "include", "must be a file name such as teacher.yaml")
    parent = _raw_card(_find_include(parent_name, path, dirs), dirs, (*seen, path))
    merged = {k: v for k, v in parent.items() if k not in NOT_INHERITED}
    for k, v in data.items():
        if k in ("cfg", "options") and isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = {**merged[k], **v}
        else:
            merged[k] = v
    return merged


def _number(path, name, v, kind=float, minimum=None, allow_none=True):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise CardError(path, name, f"must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if minimum is not None and v < minimum:
        raise CardError(path, name, f"must be at least {minimum}, got {v!r}")
    return kind(v)


def _registered(path, name, v, registry: Registry, required=False):
    """A registered name (the canonical one, for an alias)."""
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise CardError(path, name, f"must be a name, got {v!r}")
    try:
        return registry.canonical(v)
    except UnknownNameError as e:
        raise CardError(path, name, str(e)) from None


def _text(path, name, v, required=False):
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise CardError(path, name, f"must be a non-empty string, got {v!r}")
    return v


def parse_card(path: str | Path, dirs: list[Path] | None = None) -> MethodCard:
    """Read and check one card file."""
    path = Path(path)
    dirs = methods_dirs() if dirs is None else dirs
    d = _raw_card(path, dirs)
    name = d.get("name", path.stem)
    check_name("method name", name, path)         # a method's name is a folder of the run
    if name != path.stem:
        raise CardError(path, "name", f"{name!r} differs from the file name {path.stem!r}; rename one")
    from .registry import ADAPTERS

    adapter = _registered(path, "adapter", d.get("adapter"), ADAPTERS, required=True)

    cfg_raw = d.get("cfg") or {}
    if not isinstance(cfg_raw, dict):
        raise CardError(path, "cfg", "must be a mapping such as {mode: multi, audio: 6.5, ref: 2.5}")
    bad = [k for k in cfg_raw if k not in ("mode", "audio", "ref")]
    if bad:
        raise CardError(path, f"cfg.{bad[0]}", "unknown field; known fields: mode, audio, ref")
    cfg = CfgSpec(mode=_registered(path, "cfg.mode", cfg_raw.get("mode", "none"), CFG_MODES, required=True),
                  audio=_number(path, "cfg.audio", cfg_raw.get("audio"), minimum=0),
                  ref=_number(path, "cfg.ref", cfg_raw.get("ref"), minimum=0))
    if cfg.mode != "none" and (cfg.audio is None or cfg.ref is None):
        raise CardError(path, "cfg", f"mode {cfg.mode} needs both scales, audio (cfg_a) and ref (cfg_r)")

    paper_raw = d.get("paper") or []
    if not isinstance(paper_raw, list):
        raise CardError(path, "paper", "must be a list such as [{table: 2, row: TCD}]")
    paper = []
    for i, p in enumerate(paper_raw):
        if not isinstance(p, dict) or set(p) != {"table", "row"}:
            raise CardError(path, f"paper[{i}]", "must have exactly the fields table and row")
        paper.append(PaperRow(_number(path, f"paper[{i}].table", p["table"], int, 1, False),
                              _text(path, f"paper[{i}].row", p["row"], True)))

    options = d.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(k, str) and k for k in options):
        raise CardError(path, "options", "must be a mapping of setting: value, such as {pixels: 3}")

    aliases = d.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise CardError(path, "aliases", "must be a list of names")
    for a in aliases:
        check_name("method alias", a, path)

    card = MethodCard(
        name=name, adapter=adapter, path=path, description=str(d.get("description", "") or ""),
        aliases=tuple(aliases), checkpoint=_text(path, "checkpoint", d.get("checkpoint")),
        recipe=_text(path, "recipe", d.get("recipe")),
        sampler=_registered(path, "sampler", d.get("sampler"), SAMPLERS),
        steps=_number(path, "steps", d.get("steps"), int, 1), cfg=cfg,
        expected_nfe=_number(path, "expected_nfe", d.get("expected_nfe"), int, 0),
        paper=tuple(paper), folder=_text(path, "folder", d.get("folder")),
        command=_text(path, "command", d.get("command")),
        timeout_s=_number(path, "timeout_s", d.get("timeout_s", 600.0), float, 1, False), options=options)
    _check_adapter_fields(card)
    return card


def _check_adapter_fields(c: MethodCard) -> None:
    from .registry import ADAPTERS

    cls = ADAPTERS.get(c.adapter)
    for f in cls.requires:
        if getattr(c, f) is None:
            raise CardError(c.path, f, f"required by adapter {c.adapter}")
    # A field the adapter ignores is an error: a user who sets it expects it to act.
    used = {*cls.requires, *cls.accepts}
    defaults = MethodCard(name=c.name, adapter=c.adapter, path=c.path)
    for f in ADAPTER_FIELDS:
        if f not in used and getattr(c, f) != getattr(defaults, f):
            raise CardError(c.path, f, f"not used by adapter {c.adapter}; remove it")
    cls.check_card(c)


def load_cards(dirs: list[Path] | None = None) -> list[MethodCard]:
    """Every card in the method folders, sorted by name; two cards of one name are an error."""
    dirs = methods_dirs() if dirs is None else dirs
    cards: dict[str, MethodCard] = {}
    for d in dirs:
        if not d.is_dir():
            raise InputError(f"method card folder {d} does not exist (check FADA_BENCH_METHODS)")
        for p in sorted(d.glob("*.yaml")):
            card = parse_card(p, dirs)
            if card.name in cards:
                raise CardError(p, "name", f"{card.name!r} is also defined by {cards[card.name].path}")
            cards[card.name] = card
    return [cards[k] for k in sorted(cards)]
