"""Check a data folder against its manifest: what `fada-bench data verify` runs."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .io import MediaError, read_video
from .manifest import COLUMNS, MANIFEST, load_npz, read_manifest


def verify_folder(folder: str | os.PathLike, deep: bool = True, progress=None) -> tuple[list[tuple[str, str]], int]:
    """Return (problems as (item, problem) pairs, number of clips checked)."""
    folder = Path(folder)
    problems: list[tuple[str, str]] = []
    if not folder.is_dir():
        return [(str(folder), "folder not found")], 0
    try:
        df = read_manifest(folder)
    except FileNotFoundError as e:
        return [(MANIFEST, str(e))], 0
    except Exception as e:  # a corrupt parquet file
        return [(MANIFEST, f"unreadable manifest ({e.__class__.__name__}: {e})")], 0
    missing = [c for c in ("id", "video", "n_frames", "fps", "size", "status") if c not in df.columns]
    if missing:
        return [(MANIFEST, f"missing columns {missing}; expected the schema of fada.data.manifest")], 0
    unknown = [c for c in df.columns if c not in COLUMNS]
    if unknown:
        problems.append((MANIFEST, f"unknown columns {unknown}"))
    dup = df["id"][df["id"].duplicated()].tolist()
    if dup:
        problems.append((MANIFEST, f"duplicate ids {dup[:5]}"))

    ok = df[df["status"] == "ok"]
    for i, row in enumerate(ok.itertuples(index=False)):
        problems += _check_clip(folder, row, deep)
        if progress:
            progress(i + 1, len(ok))

    ids = set(df["id"])
    ok_ids = set(ok["id"])
    for split in sorted((folder / "splits").glob("*.json")):
        try:
            listed = json.loads(split.read_text())["ids"]
        except Exception as e:
            problems.append((str(split.relative_to(folder)), f"unreadable split file ({e})"))
            continue
        absent = [x for x in listed if x not in ids]
        if absent:
            problems.append((str(split.relative_to(folder)), f"{len(absent)} ids not in the manifest, e.g. {absent[:3]}"))
        skipped = [x for x in listed if x in ids and x not in ok_ids]
        if skipped:
            problems.append((str(split.relative_to(folder)), f"{len(skipped)} ids are skipped clips, e.g. {skipped[:3]}"))
    return problems, len(ok)


def _check_clip(folder: Path, row, deep: bool) -> list[tuple[str, str]]:
    out = []
    video = folder / row.video
    if not video.is_file():
        return [(row.id, f"video file missing: {row.video}")]
    try:
        if deep:
            v = read_video(video, fps=float(row.fps), audio=True, size=int(row.size))
            if v.n_frames != int(row.n_frames):
                out.append((row.id, f"{v.n_frames} frames in {row.video}, manifest says {row.n_frames}"))
        else:
            import av

            with av.open(str(video)) as c:
                if not c.streams.audio:
                    out.append((row.id, f"{row.video}: no audio track"))
                vs = c.streams.video[0]
                if vs.frames and vs.frames != int(row.n_frames):
                    out.append((row.id, f"{vs.frames} frames in {row.video}, manifest says {row.n_frames}"))
    except MediaError as e:
        out.append((row.id, str(e)))
    except Exception as e:
        out.append((row.id, f"{row.video}: unreadable ({e.__class__.__name__}: {e})"))
    params = getattr(row, "params", "")
    if params:
        p = folder / params
        if not p.is_file():
            out.append((row.id, f"ground-truth file missing: {params}"))
        else:
            try:
                arrays = load_npz(p)
                n = arrays["expression"].shape[0] if "expression" in arrays else int(row.n_frames)
                if n != int(row.n_frames):
                    out.append((row.id, f"{params} has {n} frames of parameters, manifest says {row.n_frames}"))
            except Exception as e:
                out.append((row.id, f"{params}: unreadable ({e.__class__.__name__}: {e})"))
    return out
