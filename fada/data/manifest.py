"""The manifest of a prepared data folder: one parquet row per clip, the same schema in both worlds.

Paths in the manifest are relative to the folder that holds it, so a folder can be moved.
Writes are atomic and deterministic (rows sorted by id), so the same content gives the same bytes
with the same pyarrow; `manifest_sha256` names the content whichever pyarrow wrote it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path, write_text_atomic

MANIFEST = "manifest.parquet"

# column -> dtype. Filter scores and tiers are filled by `fada.data.filters`.
COLUMNS: dict[str, str] = {
    "id": "string",            # unique sample id
    "split": "string",         # train | test | openset
    "identity": "string",      # person id; train and test identities never overlap
    "video": "string",         # mp4 (h264 + aac) relative to the folder
    "params": "string",        # per-frame ground truth (.npz) relative to the folder, "" if none
    "n_frames": "int64",
    "fps": "float64",
    "size": "int64",           # square frame side in pixels
    "seconds": "float64",
    "source": "string",        # synthetic | the raw file a real clip was cut from
    "start_s": "float64",      # where in the source the clip starts
    "status": "string",        # ok | skipped
    "reason": "string",        # why a clip was skipped, "" when ok
    # synthetic ground truth about quality (empty for real data)
    "true_tier": "string",     # A (clean) | B (has defects)
    "defects": "string",       # comma-separated defect names
    "audio_offset": "int64",   # frames the audio lags the face by
    "style": "string",         # normal | openset
    # filter scores and the tier they give
    "sync_offset": "int64",
    "sync_conf": "float64",
    "motion": "float64",
    "bg_instability": "float64",
    "blur": "float64",
    "noise": "float64",
    "blockiness": "float64",
    "tier": "string",          # A (passes strict) | B (passes lenient only) | rejected
    "filter_reasons": "string",
}


def empty_row() -> dict:
    defaults = {"string": "", "int64": 0, "float64": float("nan")}
    return {k: defaults[t] for k, t in COLUMNS.items()}


def to_frame(rows: list[dict]) -> pd.DataFrame:
    unknown = {k for r in rows for k in r} - set(COLUMNS)
    if unknown:
        raise KeyError(f"manifest rows carry unknown columns {sorted(unknown)}")
    base = empty_row()
    df = pd.DataFrame([{**base, **r} for r in rows], columns=list(COLUMNS))
    df = df.astype(COLUMNS)
    return df.sort_values("id", kind="stable").reset_index(drop=True)


def write_manifest(folder: str | os.PathLike, rows: list[dict] | pd.DataFrame) -> Path:
    df = rows if isinstance(rows, pd.DataFrame) else to_frame(rows)
    path = Path(folder) / MANIFEST
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return path


def read_manifest(folder: str | os.PathLike) -> pd.DataFrame:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no {MANIFEST} in {Path(folder).resolve()}: prepare the folder first with "
            f"`fada-bench data synth --out {folder}` (synthetic world) or "
            f"`fada-bench data prepare hdtf|celebvhq --raw RAW --out {folder}` (real data)")
    return pd.read_parquet(path)


def manifest_sha256(folder: str | os.PathLike) -> str | None:
    """sha256 of a data folder's manifest content (its table as CSV, columns and rows in the file's
    order: the order is the training data's order too), or None without a manifest. The parquet
    bytes also carry the writing pyarrow's version, so a training set made again under another
    install has new bytes but the same hash here (a teacher-target cache's key and a training run's
    record name the training set by it)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    table = pd.read_parquet(path).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(table.encode()).hexdigest()


def write_split(path: str | os.PathLike, ids: list[str], **meta) -> None:
    write_text_atomic(path, json.dumps({**meta, "n": len(ids), "ids": list(ids)}, indent=1) + "\n")


def read_split(path: str | os.PathLike) -> list[str]:
    return list(json.loads(Path(path).read_text())["ids"])


# ----------------------------------------------------------------------------- arrays

def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Like `np.savez_compressed`, but byte-identical for identical arrays (fixed zip timestamps)
    and atomic."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            b = io.BytesIO()
            np.lib.format.write_array(b, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, b.getvalue())
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
