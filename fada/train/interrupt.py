"""Stopping a training run cleanly.

SIGINT (Ctrl-C) or SIGTERM (`kill`, a job scheduler, a machine shutting down) lets the current
step finish; the trainer then saves a checkpoint and raises `TrainingInterrupted`, and the same
command resumes from that step, so an interruption loses nothing rather than everything since the
last scheduled checkpoint. A second signal stops at once, as it would without this. A signal the
process ignores (a job that a script starts with `&` ignores SIGINT) stays ignored.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by signal `signum` after saving its checkpoint at `step` in `checkpoint`."""

    def __init__(self, step: int, signum: int, checkpoint: Path):
        self.step, self.signum, self.checkpoint = step, signum, checkpoint
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; its checkpoint is in "
                         f"{checkpoint}; run the same command again to resume")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum         # the shell's convention for a process ended by a signal


class StopRequest:
    """The first stop signal received (`signum`), or None."""

    signum: int | None = None


@contextmanager
def stop_after_step(enabled: bool = True):
    """Within this block SIGINT and SIGTERM only set the yielded `StopRequest`; the caller checks it
    between steps. Handlers are installed only in the main thread (Python delivers signals there)
    and when `enabled` (several processes sharing a batch must stop at the same step, so they keep
    the default behaviour); the previous ones are restored on exit."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous = {s: h for s, h in previous.items() if h is not signal.SIG_IGN}

    def restore():
        for s, h in previous.items():
            signal.signal(s, h)

    def handler(signum, frame):
        if request.signum is not None:         # the second one: stop now, as without this handler
            restore()
            signal.raise_signal(signum)
            return
        request.signum = signum
        os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step, with a checkpoint "
                    "(send it again to stop at once)\n".encode())

    for s in previous:
        signal.signal(s, handler)
    try:
        yield request
    finally:
        restore()
