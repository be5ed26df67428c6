"""One writer at a time for a training run's folder and for a teacher-target cache.

Two `fada-bench train perflow_tiny` started by mistake (a second `nohup`, a restarted job queue)
would resume from the same checkpoint and overwrite each other's checkpoints and log, and two
builders of one cache would race on its progress. The first process takes an exclusive `flock`
on a lock file in the folder; a second one stops at once with an error that names the holder.
The operating system drops the lock when the holder ends, however it ends (`kill -9` included),
so there is never a stale lock to clean up. A run that fails before writing anything (no data,
no teacher) takes away the folder it made, so a mistyped start leaves no empty run behind.
Readers (a trainer reading a cache while it is being built, `--export` of a checkpoint) take no
lock. Work that any process may do but only one should (encoding a training set's latents, which
a trainer and a cache builder started together both need) takes `in_turn`: the second process
waits for the first, then finds the work done.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError


@contextmanager
def exclusive(folder: str | os.PathLike, doing: str, name: str = "lock"):
    """Hold `folder/.NAME.lock` for the `with` block; `doing` completes "FOLDER is being ..." in
    the error a second process gets, e.g. "trained" or "built"."""
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputError(f"{folder} is being {doing} by {holder}; wait for it to end (or stop it), "
                             "then run this again: it resumes where that one stopped") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()} since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}".encode(), 0)
        try:
            yield path
        except BaseException:
            # A start that failed before writing anything (missing data, teacher or weights) leaves
            # no empty folder behind where it made one; a folder that holds anything else is kept.
            if made and [p.name for p in folder.iterdir()] == [path.name]:
                path.unlink()
                folder.rmdir()
            raise
    finally:
        os.close(fd)      # closing the descriptor releases the lock


@contextmanager
def in_turn(folder: str | os.PathLike, name: str):
    """Hold `folder/.NAME.lock` for the `with` block, waiting while another process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)      # closing the descriptor releases the lock
