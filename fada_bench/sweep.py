"""`fada-bench sweep`: the runs behind the paper's figures and ablation tables.

- `sweep cfg --method M`: Figures 3 and 4. One card per point of the grid (cfg_a swept at
  cfg_r = 2.0, cfg_r swept at cfg_a = 6.5), all generated and scored in one run folder, so the
  ground truth's features are computed once and a point already finished is not redone; then
  `figure3_cfg_a.{png,svg}`, `figure4_cfg_r.{png,svg}` and `sweep.csv` (every point's mean and CI).
- `sweep tableN`: every card whose `paper` field names a row of Table N, plus the anchors (the
  cards whose adapter is an anchor: ground truth, static, the VAE round trip). A card's
  checkpoint that does not exist yet is trained first with its recipe, after the checkpoints that
  recipe starts from (its `vae`, `parent` and `objective.teacher`), unless the package ships it
  (`checkpoint_states` says when a shipped one is used); then one run and `tableN.md`. With
  `rows=DIR` (a folder of scored rows, `fada_bench/rows.py`) the rows DIR already holds for the
  same suite, limit and seed are neither trained nor scored again; the others are, and are saved
  into DIR, and `tableN.md` is made from DIR.

Recipes name the checkpoints they start from as `runs/NAME/model`; the sweep reads `runs/` as the
checkpoints folder (FADA_BENCH_CHECKPOINTS, default runs/ in the current folder), where the cards look too.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from fada.errors import InputError

from .cards import CfgSpec, MethodCard
from .options import OptionError, check_choice, method_names, sweep_names
from .paths import checkpoints_dir
from .registry import ADAPTERS, METHODS
from .runner import Progress, RunConfig, RunResult, run_benchmark

SWEEPS = ("cfg", "table1", "table2", "table3", "table4")
FIXED_A, FIXED_R = 6.5, 2.0          # the paper's defaults: each figure holds one of them
DEFAULT_CFG_A = (1.0, 2.5, 4.0, 5.5, 6.5, 8.0)
DEFAULT_CFG_R = (1.0, 1.5, 2.0, 2.5, 3.0)
SWEEP_METRICS = ("fvd", "sync_d")


# ---------------------------------------------------------------------------- CFG (Figures 3-4)

def cfg_grid(a_values, r_values) -> list[tuple[float, float]]:
    grid = [(float(a), FIXED_R) for a in a_values] + [(FIXED_A, float(r)) for r in r_values]
    return list(dict.fromkeys(grid))      # the shared point (6.5, 2.0) once


def cfg_variants(card: MethodCard, grid: list[tuple[float, float]]) -> list[MethodCard]:
    if card.adapter != "fada" or card.cfg.mode == "none":
        raise InputError(f"sweep cfg needs a FADA method with CFG (multi or a CFG-distilled student); "
                         f"{card.name} has adapter {card.adapter!r}, cfg mode {card.cfg.mode!r}")
    return [dataclasses.replace(card, name=f"{card.name}_a{a:g}_r{r:g}", aliases=(), paper=(),
                                cfg=CfgSpec(card.cfg.mode, a, r),
                                description=f"{card.name} at cfg_a {a:g}, cfg_r {r:g} (sweep)")
            for a, r in grid]


def run_cfg_sweep(method: str, suite: str, out: Path, *, limit: int | None = None, seed: int = 0,
                  a_values=DEFAULT_CFG_A, r_values=DEFAULT_CFG_R, metrics=SWEEP_METRICS,
                  data: Path | None = None, device: str = "cpu", dtype: str | None = None, compile: bool = False,
                  progress: Progress | None = None) -> tuple[RunResult, list[Path]]:
    from .plots import cfg_figure, sweep_points
    from .store import RunStore

    card = METHODS.get(method)
    grid = cfg_grid(a_values, r_values)
    variants = cfg_variants(card, grid)
    for v in variants:
        METHODS.add(v.name, v)
    try:
        result = run_benchmark(RunConfig(methods=[v.name for v in variants], suite=suite, out=out, limit=limit,
                                         seed=seed, metrics=list(metrics), device=device, dtype=dtype,
                                         compile=compile, data=data), progress)
    finally:
        for v in variants:
            METHODS.remove(v.name)
    if result.summary is None:       # not process 0
        return result, []
    points = pd.DataFrame({"method": [v.name for v in variants], "cfg_a": [a for a, _ in grid],
                           "cfg_r": [r for _, r in grid]})
    table = pd.concat([sweep_points(result.summary, points, m).assign(metric=m) for m in metrics])
    RunStore(out).write_text("sweep.csv", table.to_csv(index=False))
    paths = cfg_figure(result.summary, points, "figure3", list(metrics), FIXED_R, out / "figure3_cfg_a",
                       f"{card.name}: Figure 3")
    paths += cfg_figure(result.summary, points, "figure4", list(metrics), FIXED_A, out / "figure4_cfg_r",
                        f"{card.name}: Figure 4")
    return result, [out / "sweep.csv", *paths]


# ---------------------------------------------------------------------------- tables 1-4

def table_cards(table: int) -> list[MethodCard]:
    cards = [c for _, c in METHODS.items() if any(p.table == table for p in c.paper)]
    if not cards:
        raise InputError(f"no method card names a row of Table {table}")
    return cards


def _checkpoint_recipe(path: str | None) -> str | None:
    """`runs/NAME/model` -> NAME (the recipe that writes it)."""
    if not path:
        return None
    parts = Path(path).parts
    return parts[1] if len(parts) == 3 and parts[0] == "runs" and parts[2] == "model" else None


def _in_checkpoints(path: str | None) -> str | None:
    name = _checkpoint_recipe(path)
    return str(checkpoints_dir() / name / "model") if name else path


def training_order(recipe_names: list[str]) -> list[str]:
    """The recipes to run, each after the checkpoints it starts from (depth first, no repeats)."""
    from fada.train.recipe import load_recipe

    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in stack:
            raise InputError(f"recipes start from each other in a cycle: {' -> '.join(stack + (name,))}")
        for dep_name in _starts_from(load_recipe(name)).values():
            visit(dep_name, stack + (name,))
        order.append(name)

    for n in recipe_names:
        visit(n, ())
    return order


def _uses_cache(kind: str, target_cache: Path | None) -> bool:
    return target_cache is not None and kind in ("perflow", "rflow")


def _starts_from(r) -> dict[str, str]:
    """The recipes whose checkpoints `r` starts from: {"vae"|"teacher"|"parent": recipe name}."""
    deps = {"vae": r.vae, "parent": r.parent, "teacher": getattr(r.objective, "teacher", None)}
    return {role: name for role, name in ((role, _checkpoint_recipe(p)) for role, p in deps.items()) if name}


def checkpoint_states(order: list[str], rows: list[str]) -> dict[str, str]:
    """Per recipe of `order` (a `training_order` of `rows`) that the sweep needs: "trained" (its
    checkpoint is in the checkpoints folder), "shipped" (the package ships it and it is used as
    shipped) or "to train". A recipe is needed when it is one of `rows` or a recipe to train starts
    from it; the others are left out (the shipped teacher carries its own VAE).

    A shipped checkpoint is used only where nothing it was made from is trained here or to be
    trained: once a teacher is trained here, the shipped students distilled from the shipped
    teacher are no rows of it. A recipe to train reads its parent from the checkpoints folder (as
    `fada-bench train` does: the trained weights, not the float16 shipped copy), so that parent is
    trained; and then every shipped recipe starting from it is trained too, so rows compared in one
    table (Table 4's CFG variants) start from the same parent."""
    from fada.train.recipe import load_recipe

    from .weight_files.shipped import is_shipped

    deps = {name: _starts_from(load_recipe(name)) for name in order}
    trained = {n for n in order if (checkpoints_dir() / n / "model" / "fada.json").is_file()}
    to_train: set[str] = set()
    needed = set(rows)
    changed = True
    while changed:          # both sets only grow
        changed = False
        for n in order:
            if n in trained or n in to_train:
                continue
            needed_now = n in needed or any(n in deps[c].values() for c in to_train)
            if not needed_now:
                continue
            needed.add(n)
            shipped_ok = is_shipped(f"{n}/model") \
                and not any(d in trained or d in to_train for d in deps[n].values()) \
                and not any(deps[c].get("parent") == n for c in to_train)
            if not shipped_ok:
                to_train.add(n)
                changed = True
    return {n: "trained" if n in trained else "to train" if n in to_train else "shipped"
            for n in order if n in trained or n in needed}      # to_train is within needed


def training_plan(recipe_names: list[str], target_cache: Path | None = None) -> list[dict]:
    """What `train_missing` does, without doing it: per recipe in `training_order`, its kind and
    steps, the checkpoints it starts from, its `state` (`checkpoint_states`; `have` unless "to
    train"), whether it would build and read a teacher-target cache, where a started one resumes
    (`resumes_at`), and its parent recipe."""
    from fada.train.recipe import load_recipe
    from fada.train.trainer import checkpoint_step

    order = training_order(recipe_names)
    states = checkpoint_states(order, recipe_names)
    plan = []
    for name in (n for n in order if n in states):
        r = load_recipe(name)
        plan.append({"recipe": name, "kind": r.kind, "steps": r.steps, "after": list(_starts_from(r).values()),
                     "state": states[name], "have": states[name] != "to train",
                     "resumes_at": checkpoint_step(checkpoints_dir() / name),
                     "cache": _uses_cache(r.kind, target_cache), "parent": _starts_from(r).get("parent")})
    return plan


def _parent_sha_now(parent: str, to_train: set[str]) -> str | None:
    """sha256 of the `parent` checkpoint that rows trained now start from (the one under the
    checkpoints folder); None where the sweep trains it again or none is there."""
    from fada.hashing import folder_sha256

    model = checkpoints_dir() / parent / "model"
    return None if parent in to_train or not model.is_dir() else folder_sha256(model)


def parent_differs(step: dict, steps: list[dict], _now: dict | None = None) -> str | None:
    """Why a trained checkpoint of a `training_plan` (`step` of `steps`) did not start from the parent
    checkpoint the plan has now ("not recorded", "trained again", or the parent's sha256 it started
    from instead), or None. Such a checkpoint is used as trained (`fada-bench train` would find it
    finished): removing it trains it again from the parent it would be compared beside."""
    from .rows import training_record

    parent = step["parent"]
    if step["state"] != "trained" or parent is None:
        return None
    to_train = {st["recipe"] for st in steps if not st["have"]}
    if parent in to_train:
        return "trained again"
    now = _now if _now is not None else {}
    if parent not in now:
        now[parent] = _parent_sha_now(parent, to_train)
    if now[parent] is None:
        return None                   # no parent here to compare it beside
    was = training_record(checkpoints_dir(), step["recipe"]).get("parent_sha256")
    return "not recorded" if not was else None if was == now[parent] else was


def trained_from_another_parent(steps: list[dict]) -> list[str]:
    """Notes on the trained checkpoints of a `training_plan` that did not start from the parent
    checkpoint the plan has now (`parent_differs`; each parent hashed once)."""
    notes, now = [], {}
    for st in steps:
        why, parent = parent_differs(st, steps, now), st["parent"]
        if why:
            start = {"not recorded": "a parent checkpoint its training log does not record",
                     "trained again": f"a {parent} checkpoint this sweep trains again"}.get(
                why, f"{parent} {why[:12]}, not the one under {checkpoints_dir()} now")
            notes.append(f"{checkpoints_dir() / st['recipe']} was trained from {start}: it is used as trained; "
                         f"remove it to train it again from the {parent} there")
    return notes


def train_missing(recipe_names: list[str], on_train: Callable[[str], None] | None = None,
                  progress=None, target_cache: Path | None = None) -> list[str]:
    """Train every recipe in `training_order` whose state is "to train" (`checkpoint_states`);
    returns those trained. The VAE and teacher a recipe reads come from the checkpoints folder, or
    from the shipped weights where the plan uses them as shipped; the parent from the checkpoints folder.
    `target_cache`: a root of teacher-target caches; each PeRFlow/RFlow row first builds (or
    resumes, or finds built by a row before it) the cache of its teacher's targets, then reads it."""
    from fada.train.recipe import load_recipe
    from fada.train.trainer import train

    from .weight_files.shipped import trained_or_shipped

    def frozen(path: str | None) -> str | None:
        # A checkpoint the plan trains exists by the time a recipe starting from it trains, so
        # only the ones it uses as shipped fall back to the shipped weights (as `fada-bench train`).
        return trained_or_shipped(_in_checkpoints(path)) if path else path

    trained = []
    for step in training_plan(recipe_names, target_cache):
        if step["have"]:
            continue
        name = step["recipe"]
        out = checkpoints_dir() / name
        r = load_recipe(name)
        objective = r.objective
        if getattr(objective, "teacher", None):
            objective = dataclasses.replace(objective, teacher=frozen(objective.teacher))
        r = dataclasses.replace(r, vae=frozen(r.vae), parent=_in_checkpoints(r.parent), objective=objective)
        if on_train:
            on_train(name)
        cache = target_cache if step["cache"] else None
        if cache is not None:
            from fada.train.target_cache import build_target_cache

            build_target_cache(r, cache)
        train(r, out, progress=progress, **({"target_cache": cache} if cache is not None else {}))
        trained.append(name)
    return trained


def card_recipe(card: MethodCard) -> str:
    return card.recipe or Path(card.checkpoint).parts[0]


def table_recipes(table: int) -> list[str]:
    """The recipes of a table's FADA rows (what a table sweep trains, after what they start from)."""
    return rows_to_make(table, [])[1]


def table_methods(table: int) -> list[str]:
    """What a table sweep generates and scores: the table's rows and every anchor."""
    names = [c.name for c in table_cards(table) if c.adapter != "precomputed"]
    return names + [n for n, c in METHODS.items() if ADAPTERS.get(c.adapter).anchor and n not in names]


def scored_rows(rows: Path | None, suite: str, limit: int | None, seed: int) -> list[str]:
    """The methods `rows` (a folder of scored rows; absent or empty: none) holds scores of for this
    suite, limit and seed. Rows scored otherwise are an error naming them: saving this sweep's rows beside
    them would make a folder that cannot be combined."""
    from .rows import is_rows_folder, read_row, row_paths

    if rows is None or not is_rows_folder(rows):
        return []
    have = [read_row(p) for p in row_paths(rows)]
    other = [f"{r.method} ({r.identity.get('suite')}, limit {r.identity.get('limit')}, seed {r.identity.get('seed')})"
             for r in have if (r.identity.get("suite"), r.identity.get("limit"), r.identity.get("seed")) != (suite, limit, seed)]
    if other:
        raise InputError(f"--rows {rows} holds rows scored otherwise than this sweep ({suite}, limit {limit}, seed {seed}): "
                         f"{', '.join(other)}; name another --rows folder or rerun with their settings")
    return [r.method for r in have if _has_scores(r.summary, r.method)]


def _has_scores(summary: pd.DataFrame, method: str) -> bool:
    """Whether any sample of `method` was scored (a row whose every sample failed, e.g. for want of
    its checkpoint, is made again, not kept)."""
    mine = summary[summary["method"] == method]
    return bool(len(mine)) and bool((pd.to_numeric(mine["n"], errors="coerce").fillna(0) > 0).any())


def rows_to_make(table: int, kept: list[str]) -> tuple[list[str], list[str]]:
    """(methods to generate and score, recipes to train for them): the table's methods and
    anchors (`table_methods`) that `kept` (`scored_rows`) does not hold, and their FADA rows' recipes."""
    methods = [m for m in table_methods(table) if m not in kept]
    return methods, [card_recipe(c) for c in table_cards(table) if c.adapter == "fada" and c.name in methods]


def kept_rows_out_of_step(table: int, rows: Path, kept: list[str], to_make: list[str], steps: list[dict]) -> list[str]:
    """Notes on the kept rows (`scored_rows`) of a table sweep that will not be compared as equals
    with the rows beside them, the rows it makes (`to_make`, the recipes of `rows_to_make`, with
    their `training_plan` `steps`) or the other kept rows:
    - a kept row whose checkpoint is trained again (the rows to make start from it);
    - a kept row whose recipe starts from the same parent as a row to make, when its training record
      (`rows.training_record`) names another parent checkpoint than theirs, or none: Table 4's CFG
      variants must start alike;
    - where no row is made beside it, a kept row whose record differs from those of the other kept
      rows from the same parent (Table 4 with every row kept: a FADA-Fast row of unknown start
      beside CFG variants that record theirs);
    - a kept row whose parent this sweep trains again.
    Removing that row from `rows` (and its checkpoint, where one was trained from another parent or
    none is recorded) makes the sweep make it too."""
    from fada.train.recipe import load_recipe

    from .rows import read_row, row_paths, training_record

    notes = []
    row_of = {r.method: r for r in map(read_row, row_paths(rows))} if kept else {}
    to_train = {st["recipe"] for st in steps if not st["have"]}
    kept_cards = [c for c in table_cards(table) if c.adapter == "fada" and c.name in kept]
    for recipe in dict.fromkeys(card_recipe(c) for c in kept_cards if card_recipe(c) in to_train):
        notes.append(f"{recipe} trained again (rows to make start from it) while its kept row scored the earlier "
                     "checkpoint; `fada-bench claims` says where variants compared with that row do not start "
                     "from its checkpoint")
    kept_recipes = list(dict.fromkeys(map(card_recipe, kept_cards)))
    parent_of = {r: _starts_from(load_recipe(r)).get("parent") for r in {*to_make, *kept_recipes}}
    names_of = {r: [c.name for c in kept_cards if card_recipe(c) == r] for r in kept_recipes}
    recorded = {r: {(row_of[n].identity.get("training") or {}).get("parent_sha256") for n in names_of[r]}
                for r in kept_recipes}
    for recipe in kept_recipes:
        parent = parent_of[recipe]
        if parent is None or recipe in to_train:
            continue
        ours = recorded[recipe]
        made = [r for r in to_make if r != recipe and parent_of[r] == parent]
        if made or parent in to_train:
            theirs = _parent_sha_now(parent, to_train)
            if ours == {theirs} and theirs:
                continue
            why = (f"{', '.join(made)} {'start' if len(made) > 1 else 'starts'} from {parent} "
                   + (theirs[:12] if theirs else "as this sweep trains it" if parent in to_train else "(not trained)")
                   if made else f"this sweep trains {parent} again")
        else:
            # nothing made beside it: the kept rows from the same parent are compared with each other
            started = {}
            for r in kept_recipes:
                if r != recipe and parent_of[r] == parent and r not in to_train:
                    for sha in sorted(recorded[r] - {None}):
                        started.setdefault(sha, []).append(r)
            if not started or ours == set(started):
                continue
            why = "kept " + "; ".join(f"{', '.join(rs)} started from {parent} {sha[:12]}" for sha, rs in started.items())
            theirs = next(iter(started)) if len(started) == 1 else None
        # the checkpoint too where it did not start from that parent: a trained one is used as trained
        ckpt = checkpoints_dir() / recipe
        stale = [row_of[n].path for n in names_of[recipe]] + (
            [ckpt] if ckpt.is_dir() and not (theirs and training_record(checkpoints_dir(), recipe).get("parent_sha256") == theirs) else [])
        start = (f"trained from {parent} {next(iter(ours))[:12]}" if len(ours) == 1 and None not in ours else
                 "no parent checkpoint recorded" if ours == {None} else "trained from several parent checkpoints")
        notes.append(f"kept {', '.join(names_of[recipe])} ({recipe}): {start}, while {why}: they are not compared "
                     "as equals; remove " + " and ".join(map(str, stale)) + " so that this sweep makes them too")
    return notes


def run_table_sweep(table: int, suite: str, out: Path, *, limit: int | None = None, seed: int = 0,
                    train: bool = True, metrics: list[str] | None = None, data: Path | None = None,
                    device: str = "cpu", dtype: str | None = None, compile: bool = False,
                    progress: Progress | None = None,
                    on_train: Callable[[str], None] | None = None, train_progress=None,
                    target_cache: Path | None = None, rows: Path | None = None) -> tuple[RunResult | None, Path]:
    """Train, run and write `out/tableN.md` (from `rows` when given). Returns (the run's result,
    None where `rows` already held every row; the table's path)."""
    from .rows import save_rows
    from .store import RunStore
    from .tables import render

    methods, recipes = rows_to_make(table, scored_rows(rows, suite, limit, seed))
    if train:
        train_missing(recipes, on_train, train_progress, target_cache)
    result = None
    if methods:
        result = run_benchmark(RunConfig(methods=methods, suite=suite, out=out, limit=limit, seed=seed, metrics=metrics,
                                         device=device, dtype=dtype, compile=compile, data=data), progress)
        if result.summary is None:      # not process 0
            return result, out / f"table{table}.md"
        if rows is not None:
            done = [m for m in methods if _has_scores(result.summary, m)]
            save_rows(out, rows, methods=done, training_logs=checkpoints_dir())
    path = out / f"table{table}.md"
    out.mkdir(parents=True, exist_ok=True)      # a sweep whose rows were all kept ran nothing here
    RunStore(out).write_text(path.name, render(table, [Path(rows) if rows is not None else out], "md"))
    return result, path


# ---------------------------------------------------------------------------- the command's options

@dataclass(frozen=True)
class SweepConfig:
    """`fada-bench sweep WHAT`, checked when made: the sweep's name, its method (cfg), every row's
    card (tables), the suite, metrics, device and dtype, before any world is rendered, checkpoint
    trained or model loaded."""
    what: str
    suite: str = "synthetic"
    out: Path | None = None                      # default: runs/sweep-WHAT-SUITE
    method: str = "fada_fast"                    # cfg: the method whose guidance scales are swept
    limit: int | None = None
    seed: int = 0
    a_values: tuple[float, ...] = DEFAULT_CFG_A
    r_values: tuple[float, ...] = DEFAULT_CFG_R
    metrics: tuple[str, ...] | None = None       # default: fvd, sync_d for cfg; every available for tables
    train: bool = True                           # tables: train the rows' missing checkpoints first
    data: Path | None = None
    device: str = "cpu"
    dtype: str | None = None
    compile: bool = False
    target_cache: Path | None = None             # tables: root of teacher-target caches shared by the rows
    rows: Path | None = None                     # tables: scored rows kept (not redone), new ones saved there

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)   # noqa: E731  (frozen: set once, here)
        check_choice("sweep", self.what, sweep_names())
        if self.target_cache is not None and self.what == "cfg":
            raise OptionError("--target-cache is for table sweeps (it shares training targets; sweep cfg trains nothing)")
        if self.rows is not None and self.what == "cfg":
            raise OptionError("--rows is for table sweeps (sweep cfg's points are not rows of a table)")
        put("out", Path(self.out) if self.out is not None else Path("runs") / f"sweep-{self.what}-{self.suite}")
        for name, option in (("a_values", "--cfg-a"), ("r_values", "--cfg-r")):
            values = tuple(getattr(self, name))
            if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
                raise OptionError(f"{option} takes non-negative numbers, got {values!r}")
            put(name, tuple(float(v) for v in values))
        if self.what == "cfg":
            put("metrics", tuple(self.metrics or SWEEP_METRICS))
            check_choice("method", self.method, method_names())
            cfg_variants(METHODS.get(self.method), [(FIXED_A, FIXED_R)])      # a FADA card with guidance
            methods = (self.method,)
        else:
            methods = tuple(c.name for c in table_cards(self.table))
        # The run's own checks (suite, metrics, limit, seed, device, dtype), made now.
        probe = RunConfig(methods=methods, suite=self.suite, out=self.out, limit=self.limit, seed=self.seed,
                          metrics=self.metrics, device=self.device, dtype=self.dtype, compile=self.compile,
                          data=self.data)
        put("dtype", probe.dtype)
        put("metrics", probe.metrics)

    @property
    def table(self) -> int:
        return int(self.what[-1])


def run_sweep(cfg: SweepConfig, progress: Progress | None = None, on_train=None, train_progress=None):
    """(RunResult, the files written besides the run's own)."""
    common = dict(limit=cfg.limit, seed=cfg.seed, data=cfg.data, device=cfg.device, dtype=cfg.dtype,
                  compile=cfg.compile, progress=progress)
    if cfg.what == "cfg":
        return run_cfg_sweep(cfg.method, cfg.suite, cfg.out, a_values=cfg.a_values, r_values=cfg.r_values,
                             metrics=cfg.metrics, **common)
    result, path = run_table_sweep(cfg.table, cfg.suite, cfg.out, train=cfg.train,
                                   metrics=None if cfg.metrics is None else list(cfg.metrics),
                                   on_train=on_train, train_progress=train_progress, target_cache=cfg.target_cache,
                                   rows=cfg.rows, **common)
    return result, [path] if result is None or result.summary is not None else []
