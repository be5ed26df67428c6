"""sha256 of a file, read in blocks: the one function that every weight check, shipped-checkpoint
check, run store and cache key uses to hash a file (fada_bench imports it from here too)."""
from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the bytes of the file at `path`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()
