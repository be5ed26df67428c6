"""Build a synthetic data folder: clips, per-frame ground truth, manifest and splits.

Layout of DIR:
    videos/ID.mp4        h264 + AAC, 25 fps, 16 kHz mono
    params/ID.npz        identity, expression, pose, landmarks, audio offset, and the manifest row
    manifest.parquet     one row per clip (fada.data.manifest.COLUMNS)
    splits/train.json, splits/test.json, splits/openset.json
    world.json           how the folder was made

Every clip draws from its own seed, derived from (seed, split, index), so a clip does not change
when the number of other clips does, and the same seed gives byte-identical files on the same kind
of processor (another may round the rendering's last bits differently). A rerun on the
same folder keeps finished clips (resume).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..filters import assign_tier, score_clip, thresholds_dict
from ...errors import InputError
from ..io import FPS, SAMPLE_RATE, write_text_atomic, write_video
from ..manifest import load_npz, save_npz, write_manifest, write_split
from .params import sample_identity
from .world import DEFECTS, make_clip

SPLITS = {"train": 0, "test": 1, "openset": 2}
FORMAT_VERSION = 1


@dataclass(frozen=True)
class WorldConfig:
    n_train: int = 200
    n_test: int = 100
    n_openset: int = 20
    size: int = 128
    seed: int = 0
    seconds: float = 2.0
    clips_per_identity: int = 4      # train clips per train identity
    clean_fraction: float = 0.4      # share of train clips with no defect (the strict set A)
    fps: float = FPS
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if self.size % 2 or self.size < 16:
            raise ValueError(f"size must be even and at least 16, got {self.size}")
        if min(self.n_train, self.n_test, self.n_openset) < 0:
            raise ValueError("clip counts must be >= 0")
        if self.seconds * self.fps < 1:
            raise ValueError(f"clips must be at least one frame long, got {self.seconds} s")


@dataclass(frozen=True)
class ClipSpec:
    id: str
    split: str
    identity: str
    style: str
    defects: tuple[str, ...]
    clip_seed: tuple[int, ...]       # SeedSequence entropy
    identity_seed: tuple[int, ...]


def plan(cfg: WorldConfig) -> list[ClipSpec]:
    """The clips of a world: ids, identities, styles and defects, all drawn from `cfg.seed`."""
    specs = []
    n_train_ids = max(1, -(-cfg.n_train // cfg.clips_per_identity))
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test), ("openset", cfg.n_openset)):
        code = SPLITS[split]
        for i in range(n):
            r = np.random.default_rng([cfg.seed, code, i, 7])
            if split == "train":
                ident_idx = int(r.integers(n_train_ids))
                defects: tuple[str, ...] = ()
                if r.random() >= cfg.clean_fraction:
                    k = 2 if r.random() < 0.2 else 1
                    defects = tuple(sorted(r.choice(DEFECTS, size=k, replace=False).tolist()))
            else:
                ident_idx, defects = i, ()   # one identity per test clip, all clean
            specs.append(ClipSpec(
                id=f"syn-{split}-{i:05d}", split=split, identity=f"{split}-id{ident_idx:05d}",
                style="openset" if split == "openset" else "normal", defects=defects,
                clip_seed=(cfg.seed, code, i), identity_seed=(cfg.seed, 10 + code, ident_idx)))
    return specs


def _build_one(args: tuple[ClipSpec, WorldConfig, str]) -> dict:
    spec, cfg, out = args
    out = Path(out)
    video, params = out / "videos" / f"{spec.id}.mp4", out / "params" / f"{spec.id}.npz"
    if video.is_file() and params.is_file():
        try:
            stored = load_npz(params)
            row = json.loads(str(stored["manifest_row"]))
            if row.get("format") == FORMAT_VERSION:
                row.pop("format")
                return row
        except Exception:
            pass  # unreadable or old: build it again
    identity = sample_identity(np.random.default_rng(np.random.SeedSequence(spec.identity_seed)), spec.style)
    n_frames = int(round(cfg.seconds * cfg.fps))
    clip = make_clip(np.random.SeedSequence(spec.clip_seed), identity, n_frames, cfg.size, spec.defects, cfg.fps)
    scores = score_clip(clip.frames, clip.audio, cfg.fps)
    tier, reasons = assign_tier(scores)
    row = {
        "id": spec.id, "split": spec.split, "identity": spec.identity,
        "video": f"videos/{spec.id}.mp4", "params": f"params/{spec.id}.npz",
        "n_frames": n_frames, "fps": float(cfg.fps), "size": cfg.size, "seconds": n_frames / cfg.fps,
        "source": "synthetic", "start_s": 0.0, "status": "ok", "reason": "",
        "true_tier": "B" if spec.defects else "A", "defects": ",".join(spec.defects),
        "audio_offset": int(clip.audio_offset), "style": spec.style,
        **{k: (int(v) if k == "sync_offset" else float(v)) for k, v in scores.items()},
        "tier": tier, "filter_reasons": reasons,
    }
    write_video(video, clip.frames, cfg.fps, clip.audio, cfg.sample_rate)
    save_npz(params, {**clip.arrays(), "manifest_row": np.array(json.dumps({**row, "format": FORMAT_VERSION}))})
    return row


def _check_settings(out: Path, cfg: WorldConfig) -> None:
    """A folder holds one world: refuse to add clips rendered with other settings."""
    existing = out / "world.json"
    if existing.is_file():
        old = json.loads(existing.read_text()).get("config", {})
        keep = ("size", "seed", "seconds", "clips_per_identity", "clean_fraction", "fps")
        diff = {k: (old.get(k), getattr(cfg, k)) for k in keep if old.get(k) != getattr(cfg, k)}
        if diff:
            raise InputError(f"{out} holds a synthetic world made with other settings {diff}; use a new --out folder")


def _write_world_json(out: Path, cfg: WorldConfig) -> None:
    write_text_atomic(out / "world.json", json.dumps({
        "world": "synthetic", "format": FORMAT_VERSION, "config": asdict(cfg),
        "filters": thresholds_dict(), "defects": list(DEFECTS),
    }, indent=1, sort_keys=True) + "\n")


def _render(specs: list[ClipSpec], out: Path, cfg: WorldConfig, workers: int | None, progress) -> list[dict]:
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "params").mkdir(parents=True, exist_ok=True)
    workers = workers or min(len(specs), os.cpu_count() or 1) or 1
    rows: list[dict] = []
    jobs = [(s, cfg, str(out)) for s in specs]
    if workers <= 1:
        for j in jobs:
            rows.append(_build_one(j))
            if progress:
                progress(len(rows), len(jobs))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            for row in ex.map(_build_one, jobs, chunksize=1):
                rows.append(row)
                if progress:
                    progress(len(rows), len(jobs))
    return rows


def build_world(out: str | os.PathLike, cfg: WorldConfig, workers: int | None = None, progress=None) -> list[dict]:
    """Write the world of `cfg` into `out` (resuming a partial folder) and return its manifest rows.

    progress: optional callable(n_done, n_total) for a progress bar.
    """
    out = Path(out)
    _check_settings(out, cfg)
    rows = _render(plan(cfg), out, cfg, workers, progress)
    write_manifest(out, rows)
    for split in SPLITS:
        ids = sorted(r["id"] for r in rows if r["split"] == split)
        write_split(out / "splits" / f"{split}.json", ids, split=split, seed=cfg.seed, world="synthetic")
    _write_world_json(out, cfg)
    return rows


def build_clips(out: str | os.PathLike, cfg: WorldConfig, ids: list[str], workers: int | None = 1,
                progress=None) -> list[dict]:
    """Render only the named clips of the world of `cfg` into `out`'s videos/ and params/, keeping
    finished ones, and return their manifest rows (no manifest or split files are written).

    A clip's bytes are those `build_world` writes for it: each clip draws from its own seed.
    """
    out = Path(out)
    by_id = {s.id: s for s in plan(cfg)}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise InputError(f"{out}: {unknown[:3]} are not clips of this synthetic world "
                         f"(n_train {cfg.n_train}, n_test {cfg.n_test}, n_openset {cfg.n_openset})")
    _check_settings(out, cfg)
    rows = _render([by_id[i] for i in dict.fromkeys(ids)], out, cfg, workers, progress)
    _write_world_json(out, cfg)
    return rows
