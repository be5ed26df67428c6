"""The trainer's log, `RUN/log.jsonl`: one JSON record per logged step, written by the trainer
(`append_record`) and read back here for what it tells (`fada-bench claims --training-logs`).
A scored row keeps a copy of its training's log and recipe (`keep_training_files`: gzipped, in the
row folder), so what the log tells outlives the run folder; everything here reads either.

Each record has step, loss, lr, grad_norm, sec (seconds of that step) and the objective's own logs;
the first step after each (re)start also says what the seconds were measured on (device,
processor, threads and whether the networks were compiled) and what the run started from: the
sha256 of its parent and teacher checkpoints and, trained from a teacher-target cache, that cache's
key (`target_cache`; `log_compare.py` pairs two runs' steps only where it is the same).
"""
from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

LOG_NAME = "log.jsonl"
RECIPE_NAME = "recipe.json"
KEPT_LOG, KEPT_RECIPE = "training_log.jsonl.gz", "training_recipe.json"    # the copies a scored row keeps


def _own_or_kept(folder: Path, own: str, kept: str) -> Path:
    """A run folder's own file, or else a row folder's kept copy of it."""
    return folder / own if (folder / own).is_file() or not (folder / kept).is_file() else folder / kept


def log_file(run: Path) -> Path:
    """The log of `run`: a run folder's log.jsonl, a row folder's kept copy, or the file itself."""
    run = Path(run)
    return run if run.is_file() or run.suffix == ".jsonl" else _own_or_kept(run, LOG_NAME, KEPT_LOG)


def recipe_file(run: Path) -> Path:
    """The recipe.json beside `run`'s log (a row folder: its kept copy)."""
    run = Path(run)
    return _own_or_kept(run.parent if run.is_file() or run.suffix == ".jsonl" else run, RECIPE_NAME, KEPT_RECIPE)


def keep_training_files(run: Path | None, dest: Path) -> bool:
    """Copy a run's log (gzipped, byte-for-byte reproducible) and recipe into `dest`, a row folder;
    False, with any older copies removed, when there is no run or it has no log."""
    from ..data.io import write_bytes_atomic

    log = Path(run) / LOG_NAME if run is not None else None
    recipe = Path(run) / RECIPE_NAME if run is not None else None
    if log is None or not log.is_file():
        for name in (KEPT_LOG, KEPT_RECIPE):
            (Path(dest) / name).unlink(missing_ok=True)
        return False
    write_bytes_atomic(Path(dest) / KEPT_LOG, gzip.compress(log.read_bytes(), mtime=0))
    if recipe.is_file():
        write_bytes_atomic(Path(dest) / KEPT_RECIPE, recipe.read_bytes())
    return True


def start_fields(device, compiled: bool) -> dict:
    """What a (re)started trainer's first record adds: what its seconds are measured on."""
    import torch

    from ..profiling import processor_name

    return {"device": str(device), "processor": processor_name(), "threads": torch.get_num_threads(),
            "compiled": compiled}


def append_record(run: Path, rec: dict) -> None:
    with open(Path(run) / LOG_NAME, "a") as f:
        f.write(json.dumps(rec) + "\n")


def read_log(run: Path) -> list[dict]:
    """The records of a run's log.jsonl (`run`: the run folder, a row folder's kept copy, or the
    file) that name their step, in the order written; empty when the run has no log."""
    log = log_file(run)
    if not log.is_file():
        return []
    try:
        text = gzip.decompress(log.read_bytes()).decode() if log.name.endswith(".gz") else log.read_text()
    except (OSError, EOFError, UnicodeDecodeError):
        return []                               # a damaged copy tells nothing, like a missing one
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            rec["step"] = int(rec["step"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(rec)
    return out


def last_records(run: Path) -> list[dict]:
    """One record per logged step, in step order. A run resumed from a checkpoint earlier than its
    last logged step logs those steps again; the later record is kept, so every step counts once."""
    return sorted({rec["step"]: rec for rec in read_log(run)}.values(), key=lambda rec: rec["step"])


def logged_step_seconds(run: Path) -> dict[int, float]:
    """Logged seconds per step (a step repeated after a resume: the last, `last_records`)."""
    return {rec["step"]: sec for rec in last_records(run) if (sec := _seconds(rec)) is not None}


def training_hardware(run: Path) -> str:
    """What the seconds were measured on, from the record each (re)start of the trainer writes:
    "cpu (AMD EPYC) x1" (device, processor where recorded, threads), with the step each change
    took effect after a resume; "-" where the log does not say (runs started before the trainer
    recorded it)."""
    spans = []
    for rec in read_log(run):
        if "threads" in rec:
            while spans and spans[-1][0] >= rec["step"]:     # steps redone from an earlier checkpoint
                spans.pop()
            cpu = f" ({rec['processor']})" if rec.get("processor") else ""
            label = f"{rec.get('device', '?')}{cpu} x{rec['threads']}" + (" compiled" if rec.get("compiled") else "")
            if not spans or spans[-1][1] != label:
                spans.append((rec["step"], label))
    if not spans:
        return "-"
    first_step = spans[0][0]
    if first_step == 1 and len(spans) == 1:
        return spans[0][1]
    text = "; ".join(f"{label} from step {step}" for step, label in spans)
    return text if first_step == 1 else f"not recorded before step {first_step}; {text}"


def training_hours(run: Path) -> float | None:
    """Hours of training steps: the steps done times the median logged seconds per step (start-up
    and saves excluded). The median, not the sum of the sampled steps times the logging interval,
    because a trainer paused (SIGSTOP) for an hour inside one logged step would add ten hours to
    that sum. A run that read some of its targets from a teacher-target cache and computed the rest
    live has two kinds of step (a live one computes Phi, about twice the seconds): each kind's median
    is weighted by its share of the samples (the log's cached_samples and live_samples), so the
    live steps are not all counted at the cached steps' speed."""
    records = [r for r in last_records(run) if _seconds(r) is not None]
    if not records:
        return None
    steps = records[-1]["step"]
    kinds = {k: [_seconds(r) for r in records if r.get("cached") == k] for k in (0, 1)}
    counted = [r for r in records if "cached_samples" in r and "live_samples" in r]
    if counted and kinds[0] and kinds[1]:
        cached, live = int(counted[-1]["cached_samples"]), int(counted[-1]["live_samples"])
        if cached + live > 0:
            per_step = (cached * statistics.median(kinds[1]) + live * statistics.median(kinds[0])) / (cached + live)
            return steps * per_step / 3600
    return steps * statistics.median(_seconds(r) for r in records) / 3600


def _seconds(rec: dict) -> float | None:
    try:
        return float(rec["sec"])
    except (KeyError, TypeError, ValueError):
        return None


def training_steps(run: Path) -> str:
    """"done of planned" steps, so a row still training is not read as finished."""
    by_step, meta = logged_step_seconds(run), recipe_file(run)
    if not by_step:
        return "-"
    planned = json.loads(meta.read_text()).get("steps") if meta.is_file() else None
    return f"{max(by_step)} of {planned}" if planned else str(max(by_step))
