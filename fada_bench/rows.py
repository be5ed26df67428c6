"""Scored rows kept in the repository: one folder per method card, so that the tables and claims
outlive the machine that trained and scored them.

    ROWS/METHOD/summary.csv      the method's rows of the run's summary (one per metric)
    ROWS/METHOD/samples.csv      its per-sample values (no videos): status, seconds, NFE, metrics
    ROWS/METHOD/identity.json    what the values were measured with (see `row_identity`)
    ROWS/METHOD/bootstrap.csv    the per-set metrics' bootstrap replicates (rows saved from a run
                                 that kept them; `summary.REPLICATE_COLUMNS`)
    ROWS/METHOD/training_log.jsonl.gz, training_recipe.json
                                 saved with `--training-logs`: its training's log and recipe
                                 (`fada.train.log.keep_training_files`), so what the log tells
                                 (R per tier, losses step by step) outlives the run folder

`fada-bench rows save RUN_DIR --out results/synthetic/rows` writes them; `fada-bench table` and
`fada-bench claims` accept a rows folder wherever they accept a run folder, and read only these
files. Rows are combined only when they were measured alike: the same suite, sample limit and
seed, the same backbone weights for every metric key they share, and, for the FADA generators,
the same decoder (`IDENTITY_FIELDS`; the paper's rows decode with the VAE, and `--decoder fast`
changes every image metric); a mismatch is an error naming both rows and the field. Each row
also records its checkpoint's files and, saved with `--training-logs`, the teacher it was
distilled from (`lineage`): the claims and tables check that the students they compare come
from the checkpoint the teacher row scored (`same_teacher`).

The tables and the claims' verdicts read means and 95% intervals only (every rule of
`claims/rules.py` compares intervals of the summary). The per-sample values are kept for paired
analyses (`fada-bench rows compare`, `row_compare.py`, and the paired lines CLAIMS.md shows beside
each claim) and to recompute the per-sample metrics' intervals. The per-set metrics' (FID, FVD,
E-FID) bootstrap intervals need the backbone features, which stay in the run folder: they are
computed once, when the run is scored, and their replicates are kept (`bootstrap.csv`), so two rows
resampled at the same clips are compared replicate for replicate, paired, without the features.
"""
from __future__ import annotations

import json
import platform
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from fada.data.io import write_text_atomic
from fada.errors import InputError
from fada.hashing import folder_files_sha256, listing_sha256, sha256_file
from fada.profiling import hardware_label, processor_name
from fada.train.log import KEPT_LOG, keep_training_files

from .store import REPLICATES

IDENTITY_FIELDS = ("suite", "limit", "seed", "backbones", "decoder")
ROW_FILES = ("summary.csv", "samples.csv", "identity.json")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Per-sample columns that name files of the run folder or the machine: not part of a scored row.
_DROP = ("video",)


def decodes_latents(card: dict) -> bool:
    """Whether a recorded card's method decodes latents, so its row's identity has a decoder:
    the FADA generators (the anchors and other adapters ignore --decoder)."""
    return card.get("adapter") == "fada"


class RowMismatchError(InputError):
    """Two rows measured differently (suite, limit, seed, backbone weights or, for the FADA
    generators, decoder) were combined."""


# ---------------------------------------------------------------------------- identity

def backbone_hashes(metric_keys: list[str]) -> dict[str, dict[str, str]]:
    """{metric key: {weight file: sha256}} of the backbone each metric loads; {} for a metric
    without weights, {file: "missing"} for one not on this machine."""
    from .registry import METRICS
    from .weight_files import standard as wr
    from .weight_files import synthetic as sb

    out = {}
    for key in metric_keys:
        try:
            cls = METRICS.get(key)
        except (KeyError, InputError):
            out[key] = {}
            continue
        files = {}
        # The synthetic network's name; pixel metrics (colour drift, seams) have no backbone class.
        synthetic = getattr(getattr(cls, "default_backbone", None), "weights", None)
        if synthetic:
            try:
                files[sb.registry()[synthetic]["file"]] = sha256_file(sb.weights_path(synthetic, check=False))
            except (wr.WeightsError, KeyError):
                files[synthetic] = "missing"
        else:
            for e in wr.ENTRIES.values():
                if e.backbone == cls.backbone:
                    s = wr.verify(e.name)
                    ok = s.state == "present" and s.path is not None and Path(s.path).is_file()
                    files[e.filename] = sha256_file(Path(s.path)) if ok else "missing"
        out[key] = files
    return out


def checkpoint_hashes(card) -> dict:
    """{"files": {file: sha256}, "sha256": digest of that listing} of the model folder a card
    runs (trained here, else shipped); {} for a card without a checkpoint."""
    if card.adapter not in ("fada", "vae_roundtrip") or not card.checkpoint:
        return {}
    from .adapters.fada_pipeline import checkpoint_path

    try:
        folder = checkpoint_path(card)
    except InputError as e:
        return {"error": str(e)}
    files = folder_files_sha256(folder)      # each file read once: the digest is of this listing
    return {"folder": card.checkpoint, "files": files, "sha256": listing_sha256(files)}


def row_identity(run_info: dict, method: str, command: str) -> dict:
    """The identity of one method's row of a run: suite (and its recorded identity), limit, seed,
    each metric key's backbone sha256s, a FADA generator's decoder, the generator checkpoint's sha256, the harness version and
    commit, the machine and the dates. Backbone and checkpoint hashes are those the run recorded
    when it started; a run from before they were recorded gets them from this machine's files now,
    and says so (`hashed_at: "save"`)."""
    cfg = run_info.get("config", {})
    hashed_at = "run"
    backbones = cfg.get("backbones")
    if backbones is None:
        backbones, hashed_at = backbone_hashes(list(cfg.get("metrics", []))), "save"
    card = cfg.get("cards", {}).get(method, {})
    ckpt = card.get("checkpoint_hashes")
    if ckpt is None and card.get("checkpoint"):
        from .registry import METHODS

        try:
            ckpt, hashed_at = checkpoint_hashes(METHODS.get(method)), "save"
        except (KeyError, InputError):
            ckpt = {}
    ident = {
        "method": method, "suite": cfg.get("suite"), "suite_identity": cfg.get("suite_identity"),
        "limit": cfg.get("limit"), "n_samples": cfg.get("n_samples"), "seed": cfg.get("seed"),
        "metrics": cfg.get("metrics"), "backbones": backbones, "device": cfg.get("device", "cpu"),
        "card": {k: v for k, v in card.items() if k != "checkpoint_hashes"}, "checkpoint": ckpt or {},
        "hashed_at": hashed_at,
        "versions": run_info.get("versions", {}), "git": run_info.get("git", {}),
        "hardware": run_info.get("hardware", {}), "run_command": run_info.get("command"),
        "run_started": run_info.get("started"), "run_finished": run_info.get("finished"),
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"), "saved_by": command,
        "saved_on": {"processor": processor_name(), "platform": platform.platform()},
    }
    if decodes_latents(card):
        ident["decoder"] = cfg.get("decoder", "vae")         # runs from before --decoder used the VAE
    return ident


# ---------------------------------------------------------------------------- save

def _check_name(method: str, where: Path) -> str:
    if not _NAME.match(method) or ".." in method:
        raise InputError(f"{where}: method {method!r} is not a plain name; it cannot name a row folder")
    return method


def save_rows(run_dir: str | Path, out: str | Path, methods: list[str] | None = None,
              command: str | None = None, training_logs: str | Path | None = None) -> list[Path]:
    """Write each finished method of `run_dir` (or only `methods`) as a row folder under `out`,
    replacing a row of the same name. `training_logs`: the checkpoints folder whose
    RECIPE/log.jsonl give each row's training steps, hours and device (kept in identity.json, so
    CLAIMS.md's training table is rebuilt from the rows). Returns the row folders."""
    run_dir, out = Path(run_dir), Path(out)
    info_path, csv = run_dir / "run.json", run_dir / "summary.csv"
    if not csv.is_file() or not info_path.is_file():
        raise InputError(f"{run_dir} has no summary.csv and run.json: is it a finished run folder? "
                         f"Finish it with `fada-bench run ... --out {run_dir}`")
    try:
        info = json.loads(info_path.read_text())
    except ValueError as e:
        raise InputError(f"{info_path}: not valid JSON ({e})") from None
    if info.get("status") != "finished":
        raise InputError(f"{info_path}: the run is not finished (status {info.get('status')!r}); "
                         f"finish it with the command in run.json, then save its rows")
    summary = pd.read_csv(csv)
    samples_path = run_dir / "samples.parquet"
    samples = pd.read_parquet(samples_path) if samples_path.is_file() else pd.DataFrame(columns=["method"])
    reps_path = run_dir / REPLICATES
    replicates = pd.read_csv(reps_path) if reps_path.is_file() else pd.DataFrame(columns=["method"])
    have = list(dict.fromkeys(summary["method"]))
    if methods:
        missing = [m for m in methods if m not in have]
        if missing:
            raise InputError(f"{csv} has no rows of {', '.join(missing)} (it has {', '.join(have)})")
    command = command or "fada-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    identities = {_check_name(m, csv): row_identity(info, m, command) for m in methods or have}
    _check_joins(out, identities)
    written = []
    for method, identity in identities.items():
        row = out / method
        row.mkdir(parents=True, exist_ok=True)
        recipe = identity["card"].get("recipe") or _recipe_of(method)
        trained = Path(training_logs) / recipe if training_logs is not None and recipe else None
        if trained is not None:
            identity["training"] = training_record(Path(training_logs), recipe)
        keep_training_files(trained, row)         # without one, a replaced row keeps no older copies
        s = summary[summary["method"] == method]
        write_text_atomic(row / "summary.csv", s.to_csv(index=False))
        p = samples[samples["method"] == method].drop(columns=[c for c in _DROP if c in samples])
        write_text_atomic(row / "samples.csv", p.to_csv(index=False))
        write_text_atomic(row / "identity.json", json.dumps(identity, indent=1, default=str) + "\n")
        mine = replicates[replicates["method"] == method]
        if len(mine):
            write_text_atomic(row / REPLICATES, mine.to_csv(index=False))
        else:
            (row / REPLICATES).unlink(missing_ok=True)     # a replaced row keeps no older replicates
        written.append(row)
    return written


def _check_joins(out: Path, identities: dict[str, dict]) -> None:
    """Before anything is written: the new rows must combine with the rows `out` keeps (those they
    do not replace), or the tables and claims that read `out` would stop at the next command."""
    kept = []
    for p in row_paths(out) if is_rows_folder(out) else []:
        if p.name in identities:
            continue
        try:
            kept.append((str(p), read_row(p).identity))
        except (InputError, OSError, ValueError):
            continue                       # an unreadable row is reported by whatever reads the folder
    try:
        check_combinable(kept + [(str(out / m), ident) for m, ident in identities.items()])
    except RowMismatchError as e:
        raise RowMismatchError(f"{e}. Nothing was saved: save these rows under another --out, or score "
                               f"them as the rows in {out} were") from None


def _recipe_of(method: str) -> str | None:
    from .registry import METHODS

    try:
        c = METHODS.get(method)
    except (KeyError, InputError):
        return None
    return c.recipe or (Path(c.checkpoint).parts[0] if c.adapter == "fada" and c.checkpoint else None)


def training_record(runs_root: Path, recipe: str) -> dict:
    """Steps done of planned, hours and devices of a recipe's training, from its log.jsonl, the
    sha256 of its parent, teacher and training set (where the trainer recorded them), and for a
    row trained with a teacher-target cache, how many samples read their targets from it and the
    cache's key (where the trainer recorded it)."""
    from fada.train.log import read_log, training_hardware, training_hours, training_steps

    run = Path(runs_root) / recipe
    log = read_log(run)
    starts = [r for r in log if "threads" in r]     # each (re)start's record
    last = starts[-1] if starts else {}
    counted = [r for r in log if "cached_samples" in r]
    return {"recipe": recipe, "steps": training_steps(run),
            "hours": training_hours(run), "ran_on": training_hardware(run),
            "parent_sha256": last.get("parent_sha256"), "teacher_sha256": last.get("teacher_sha256"),
            **({"training_set_sha256": last["training_set_sha256"]} if last.get("training_set_sha256") else {}),
            **({"target_samples": {"cached": counted[-1]["cached_samples"], "live": counted[-1]["live_samples"]}}
               if counted else {}),
            **({"target_cache": last["target_cache"]} if last.get("target_cache") else {})}


# ---------------------------------------------------------------------------- read

@dataclass
class Row:
    path: Path
    method: str
    identity: dict
    summary: pd.DataFrame


def is_rows_folder(path: str | Path) -> bool:
    """A row folder (identity.json beside summary.csv), or a folder of them."""
    path = Path(path)
    return (path / "identity.json").is_file() or (
        path.is_dir() and not (path / "summary.csv").is_file()
        and any((p / "identity.json").is_file() for p in path.iterdir() if p.is_dir()))


def read_row(path: Path) -> Row:
    for f in ROW_FILES:
        if not (path / f).is_file():
            raise InputError(f"{path}: a scored row needs {', '.join(ROW_FILES)}; {f} is missing "
                             f"(write rows with `fada-bench rows save RUN_DIR --out {path.parent}`)")
    try:
        identity = json.loads((path / "identity.json").read_text())
    except ValueError as e:
        raise InputError(f"{path / 'identity.json'}: not valid JSON ({e})") from None
    summary = pd.read_csv(path / "summary.csv")
    methods = set(summary["method"])
    if methods - {identity.get("method")}:
        raise InputError(f"{path / 'summary.csv'}: holds {', '.join(sorted(map(str, methods)))}, "
                         f"but identity.json names {identity.get('method')!r}")
    if decodes_latents(identity.get("card", {})) and "decoder" not in identity:
        identity["decoder"] = _decoder_of(identity.get("run_command"))
    return Row(path, str(identity.get("method")), identity, summary)


def row_overview(row: Row) -> dict:
    """One line about a row (`fada-bench rows list`): samples scored and failed, the generator
    checkpoint's sha256 prefix, when and on what it was scored, and its training record (and
    whether the row keeps its training log)."""
    ident, s = row.identity, row.summary
    hw, training = ident.get("hardware") or {}, ident.get("training") or {}
    sha = (ident.get("checkpoint") or {}).get("sha256")
    return {"method": row.method, "samples": ident.get("n_samples"),
            "failed": int(s["n_failed"].max()) if "n_failed" in s and len(s) else 0,
            "checkpoint": sha[:12] if sha else "-",
            "scored": str(ident.get("run_finished") or ident.get("saved") or "-")[:16].replace("T", " "),
            "scored_on": row_device(row) if hw else "-",
            "trained": _training_text(training) + ("; log kept" if (row.path / KEPT_LOG).is_file() else "")}


def _training_text(t: dict) -> str:
    if not t.get("recipe"):
        return "-"
    if t.get("steps") in (None, "-"):                 # saved without its training log beside it
        return f"{t['recipe']}: no training log when saved"
    text = f"{t['recipe']}: {t['steps']}"
    if t.get("hours") is not None:
        text += f", {t['hours']:.2f} h"
    if t.get("ran_on") not in (None, "-"):
        text += f" ({t['ran_on']})"
    if t.get("target_samples"):
        n = t["target_samples"]
        text += f", targets of {n['cached']} of {n['cached'] + n['live']} samples cached"
    return text


def _decoder_of(command) -> str:
    """The --decoder of a recorded `fada-bench run` command (a row saved before rows recorded
    it): "vae" where the command gives none, as every run did before the option existed."""
    args = shlex.split(command) if isinstance(command, str) else list(command or [])
    for i, a in enumerate(args):
        if a == "--decoder" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--decoder="):
            return a.split("=", 1)[1]
    return "vae"


def row_paths(path: str | Path) -> list[Path]:
    """The row folders of a rows folder (or a row folder itself); an error where there is none."""
    path = Path(path)
    if (path / "identity.json").is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and (p / "identity.json").is_file()) if path.is_dir() else []
    if not found:
        raise InputError(f"{path} holds no scored rows (no METHOD/identity.json); write them with "
                         f"`fada-bench rows save RUN_DIR --out {path}`")
    return found


def read_rows(path: str | Path) -> list[Row]:
    """The rows of a rows folder (or the one row of a row folder), checked to be combinable."""
    rows = [read_row(p) for p in row_paths(path)]
    check_combinable([(str(r.path), r.identity) for r in rows])
    return rows


def _differs(field: str, a, b) -> str | None:
    """How two identities differ in `field`, or None. Backbones are compared on the metric keys
    both carry, so a row scored with more metrics still combines with one scored with fewer."""
    if field != "backbones":
        return None if a == b else f"{a!r} against {b!r}"
    a, b = a or {}, b or {}
    for key in sorted(set(a) & set(b)):
        if a[key] != b[key]:
            return f"{key} {a[key]} against {b[key]}"
    return None


def check_combinable(identities: list[tuple[str, dict]]) -> None:
    """Raise `RowMismatchError` naming both rows and the field when two identities differ in
    suite, limit, seed, the backbone weights of a metric they share or the decoder. A field one of
    them lacks (a run folder from before backbones were recorded, a row of a method that decodes
    nothing) is not compared."""
    for field in IDENTITY_FIELDS:
        first = None
        for name, ident in identities:
            if field not in ident or (field == "backbones" and ident[field] is None):
                continue
            if first is None:
                first = (name, ident[field])
                continue
            why = _differs(field, first[1], ident[field])
            if why:
                raise RowMismatchError(f"{first[0]} and {name} differ in {field} ({why}): rows are combined "
                                       "only when measured with the same suite, limit, seed, backbones and decoder; "
                                       "score them again in one run")


def run_identity(run_dir: Path) -> dict:
    """The comparable identity of a run folder (its run.json), for combining it with rows."""
    try:
        cfg = json.loads((Path(run_dir) / "run.json").read_text()).get("config", {})
    except (OSError, ValueError):
        return {}
    out = {k: cfg[k] for k in ("suite", "limit", "seed") if k in cfg}
    if cfg.get("backbones") is not None:
        out["backbones"] = cfg["backbones"]
    if any(decodes_latents(c) for c in cfg.get("cards", {}).values()):
        out["decoder"] = cfg.get("decoder", "vae")
    return out


def training_records(paths: list[str | Path]) -> dict[str, dict]:
    """{recipe: training record} from the rows folders among `paths` (for CLAIMS.md's table)."""
    out = {}
    for p in paths:
        if is_rows_folder(p):
            for r in read_rows(p):
                rec = r.identity.get("training")
                if rec and rec.get("recipe"):
                    out.setdefault(rec["recipe"], rec)
    return out


def lineage(paths: list[str | Path]) -> dict[str, dict]:
    """{method: {"checkpoint": sha256 of its generator checkpoint (`folder_sha256` of the files its
    identity lists), "teacher": sha256 of the teacher it was distilled from (its training record)}}
    of the rows folders among `paths`, None where a row does not record one (for claims' check that
    the students compared were distilled from the teacher row's checkpoint)."""
    out = {}
    for p in paths:
        if is_rows_folder(p):
            for r in read_rows(p):
                files = (r.identity.get("checkpoint") or {}).get("files")
                out.setdefault(r.method, {"checkpoint": listing_sha256(files) if files else None,
                                          "teacher": (r.identity.get("training") or {}).get("teacher_sha256")})
    return out


def unrecorded_teacher(lineage: dict[str, dict], methods: tuple[str, ...]) -> list[str]:
    """The `methods` with a row in `lineage` whose record names no teacher (`rows.lineage`)."""
    return [m for m in methods if m in lineage and not (lineage[m] or {}).get("teacher")]


def same_teacher(lineage: dict[str, dict], methods: tuple[str, ...], teacher: str = "teacher") -> tuple[bool, list[str]]:
    """Whether the students a claim compares were distilled from one teacher, the checkpoint the
    teacher row scored (else the first recorded), from `lineage` ({method: {"checkpoint", "teacher"}},
    `rows.lineage`): (alike, lines). A student retrained from another teacher (a retrained or a
    float32 one) differs from the rows beside it by more than the claim tests, so the claim is not
    compared as equals. Rows without a record (run folders, shipped checkpoints) are not judged."""
    unknown = unrecorded_teacher(lineage, methods)
    known = {m: lineage[m]["teacher"] for m in methods if m in lineage and m not in unknown}
    note = [f"teacher: not recorded for {', '.join(unknown)} (a row records it when saved with --training-logs "
             "beside its training log)"] if unknown else []
    if not known:
        return True, note
    ref = (lineage.get(teacher) or {}).get("checkpoint")
    where = f"the {teacher} row's checkpoint" if ref else "the first recorded"
    ref = ref or next(iter(known.values()))
    apart = {m: sha for m, sha in known.items() if sha != ref}
    if not apart:
        return True, [f"teacher: {', '.join(known)} distilled from {ref[:12]} ({where})"] + note
    return False, [f"teachers differ (so the rows are not compared as equals): {where} is {ref[:12]}; "
                   + ", ".join(f"{m} from {sha[:12]}" for m, sha in apart.items())] + note


def rows_summary(rows: list[Row]) -> pd.DataFrame:
    return pd.concat([r.summary for r in rows], ignore_index=True)


def row_device(row: Row) -> str:
    """Where a row's wall-clock was measured, as tables.read_run names it for a run folder."""
    return hardware_label(row.identity.get("hardware") or {}, row.identity.get("device", "cpu"))
