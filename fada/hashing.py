"""sha256 of a file, read in blocks, and of a model folder: the one implementation that every weight
check, shipped-checkpoint check, run store, cache key and scored row uses to hash files
(fada_bench imports it from here too)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the bytes of the file at `path`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def folder_files_sha256(folder: str | os.PathLike) -> dict[str, str]:
    """{path relative to `folder` (posix): sha256} of every file under it, hidden files left out,
    in sorted order."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def listing_sha256(files: dict[str, str]) -> str:
    """sha256 of a folder from its `folder_files_sha256` listing (one "path<TAB>sha256" line per file)."""
    listing = "".join(f"{f}\t{d}\n" for f, d in files.items())
    return hashlib.sha256(listing.encode()).hexdigest()


def folder_sha256(folder: str | os.PathLike) -> str:
    """sha256 of a model folder: of the list of its files with each file's sha256."""
    return listing_sha256(folder_files_sha256(folder))
