"""A run's folder on disk. Every file is written atomically (temp file + rename), so a reader, or a
run killed at any instant, sees each file whole or not at all.

    DIR/run.json                    config, versions, git commit, seeds, hardware
    DIR/samples.parquet             one row per method and sample
    DIR/summary.csv, summary.json   one row per method and metric
    DIR/bootstrap.csv               the per-set metrics' bootstrap replicates, one row each
    DIR/videos/METHOD/SAMPLE.mp4    generated videos, with audio
    DIR/records/METHOD/SAMPLE.json  per-sample progress: what is finished (the resume state)
    DIR/features/METRIC/SHA256.npz  backbone features by metric key and video content hash
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fada.data.io import Video, write_text_atomic, write_video
from fada.data.manifest import load_npz, save_npz
from fada.errors import InputError

from fada.hashing import sha256_file

REPLICATES = "bootstrap.csv"      # the per-set metrics' bootstrap replicates (`summary.REPLICATE_COLUMNS`)


class StorageError(InputError):
    """The output folder cannot take a write (read-only, full, no permission)."""


@contextmanager
def storage(path: Path):
    """Turn an OSError of a write into one clear error; atomic writes have left nothing behind."""
    try:
        yield
    except OSError as e:
        if isinstance(e, InputError):
            raise
        why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}.get(e.errno, e.strerror or str(e))
        raise StorageError(f"cannot write {path}: {why}; free space, fix the permissions or choose "
                           "another --out (finished samples are kept; rerun the same command to resume)") from None


def _json_safe(x):
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return _json_safe(x.item())
    return x


def dumps(obj) -> str:
    return json.dumps(_json_safe(obj), indent=1, sort_keys=False, allow_nan=False) + "\n"


def safe_name(key: str) -> str:
    """A metric key as a folder name: fid[synthetic] -> fid_synthetic_."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def _plain(kind: str, name: str) -> str:
    from .options import check_name

    return check_name(kind, name, "the run store")


class RunStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def inside(self, *parts: str) -> Path:
        """ROOT/parts..., refused unless it stays inside the folder: method names and sample ids
        must be plain names (the suites check ids where they read them; this is the second line).
        The check is on the names, not on resolved links, so a folder the user links elsewhere
        (videos/ on a bigger disk) keeps working."""
        from .options import OptionError

        rel = os.path.normpath(os.path.join(*parts))
        if os.path.isabs(rel) or rel == os.pardir or rel.startswith(os.pardir + os.sep) or rel == os.curdir:
            raise OptionError(f"refusing to write {os.path.join(*parts)!r}: it is outside the run folder {self.root}")
        return self.root / rel

    # ------------------------------------------------------------------ the folder
    def check_writable(self) -> None:
        """Fail before any work when the folder cannot take files."""
        with storage(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            # One probe per process: under torchrun every process checks the same folder at once.
            probe = self.root / f".write-probe-{os.getpid()}"
            write_text_atomic(probe, "ok\n")
            probe.unlink(missing_ok=True)

    def write_json(self, name: str, obj) -> None:
        path = self.inside(name)
        with storage(path):
            write_text_atomic(path, dumps(obj))

    def write_text(self, name: str, text: str) -> None:
        path = self.inside(name)
        with storage(path):
            write_text_atomic(path, text)

    def read_json(self, name: str):
        path = self.root / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ per-sample records
    def record_path(self, method: str, sample_id: str) -> Path:
        return self.inside("records", _plain("method name", method), f"{_plain('sample id', sample_id)}.json")

    def methods_on_disk(self) -> list[str]:
        """Methods with per-sample records in this folder (those of earlier runs into it too)."""
        folder = self.root / "records"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def read_record(self, method: str, sample_id: str) -> dict | None:
        """The sample's record, or None when absent or unreadable (then it is simply redone)."""
        p = self.record_path(method, sample_id)
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and rec.get("sample") == sample_id else None

    def write_record(self, rec: dict) -> None:
        path = self.record_path(rec["method"], rec["sample"])
        with storage(path):
            write_text_atomic(path, dumps(rec))

    # ------------------------------------------------------------------ videos
    def video_path(self, method: str, sample_id: str) -> Path:
        return self.inside("videos", _plain("method name", method), f"{_plain('sample id', sample_id)}.mp4")

    def write_video(self, method: str, sample_id: str, video: Video) -> tuple[Path, str]:
        path = self.video_path(method, sample_id)
        with storage(path):
            write_video(path, video.frames, video.fps, video.audio, video.sample_rate)
        return path, sha256_file(path)

    # ------------------------------------------------------------------ feature cache
    def features_path(self, key: str, sha: str) -> Path:
        return self.inside("features", safe_name(key), f"{safe_name(sha)}.npz")

    def load_features(self, key: str, sha: str) -> np.ndarray | None:
        """Cached features, or None when absent or not to be trusted: unreadable, written for
        another key or video, or whose content no longer matches its recorded hash and shape."""
        path = self.features_path(key, sha)
        if not path.is_file():
            return None
        try:
            z = load_npz(path)
            meta = json.loads(str(z["meta"]))
            arr = z["features"]
            ok = (meta["key"] == key and meta["video_sha256"] == sha and list(arr.shape) == meta["shape"]
                  and str(arr.dtype) == meta["dtype"]
                  and hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() == meta["sha256"])
        except Exception:   # a damaged file of any kind is recomputed, never trusted
            return None
        return arr if ok else None

    def save_features(self, key: str, sha: str, features) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(features))
        if arr.dtype == object:
            raise TypeError(f"{key}: features must be a numeric array, got dtype object")
        meta = {"key": key, "video_sha256": sha, "shape": list(arr.shape), "dtype": str(arr.dtype),
                "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
        path = self.features_path(key, sha)
        with storage(path):
            save_npz(path, {"features": arr, "meta": np.array(json.dumps(meta))})
        return arr

    # ------------------------------------------------------------------ tables
    def write_samples(self, df) -> None:
        from fada.data.io import atomic_path

        path = self.root / "samples.parquet"
        with storage(path), atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False, engine="pyarrow")

    def write_summary(self, df) -> None:
        self._write_csv("summary.csv", df)
        self.write_json("summary.json", df.to_dict("records"))

    def write_replicates(self, df) -> None:
        self._write_csv(REPLICATES, df)

    def _write_csv(self, name: str, df) -> None:
        from fada.data.io import atomic_path

        path = self.root / name
        with storage(path), atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
