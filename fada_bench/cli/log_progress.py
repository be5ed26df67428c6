"""Progress for a log file: one plain line per task at most every `every` seconds, and one when the
task finishes, for long jobs run in the background (`nohup fada-bench train ... > log 2>&1 &`),
whose output a live bar would leave empty for hours."""
from __future__ import annotations

import statistics
import time
from collections import deque

from rich.markup import escape
from rich.progress import Progress, TaskID


def duration(seconds: float | None) -> str:
    """1:02:03 style, as the terminal bar shows it; '?' when unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LogProgress(Progress):
    """rich's Progress with its live display off; `update` and `advance` print a line such as
    `perflow_tiny loss 0.0012: 200/4000 (5%), 0:07:40 elapsed, about 2:25:30 left`.

    What is left is the median time per unit over the last `RECENT` advances times the units left.
    rich's own estimate (the mean over a time window) counts a pause inside that window, so a
    background job stopped for a while (SIGSTOP, a suspended laptop) would be said to need many
    hours more; a median over advances lets one long gap pass, and a lasting change of speed (the
    job is now sharing the cores) still shows within `RECENT // 2` advances. The first advance only
    starts the clock: it may carry a resumed job's earlier steps, or the loading before step one."""

    RECENT = 20

    def __init__(self, *, console, every: float, clock=time.monotonic):
        super().__init__(console=console, disable=True, get_time=clock)
        self.every = every
        self._said: dict[TaskID, float] = {}
        self._finished: set[TaskID] = set()
        self._last: dict[TaskID, tuple[float | None, float]] = {}   # (time, completed) at the last advance
        self._unit_s: dict[TaskID, deque] = {}                    # seconds per unit of recent advances

    def add_task(self, description: str, *args, **kwargs) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        now = self.get_time()
        self._said[task_id] = now
        self._last[task_id] = (None, self._task(task_id).completed)
        self._unit_s[task_id] = deque(maxlen=self.RECENT)
        return task_id

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._note_pace(task_id)
        self._maybe_say(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._note_pace(task_id)
        self._maybe_say(task_id)

    def _task(self, task_id: TaskID):
        return next(t for t in self.tasks if t.id == task_id)

    def _note_pace(self, task_id: TaskID) -> None:
        now, completed = self.get_time(), self._task(task_id).completed
        t0, c0 = self._last[task_id]
        if completed > c0:
            if t0 is not None:
                self._unit_s[task_id].append((now - t0) / (completed - c0))
            self._last[task_id] = (now, completed)

    def time_left(self, task_id: TaskID) -> float | None:
        """Seconds left at the median pace of the recent advances; None before the second advance."""
        task, paces = self._task(task_id), self._unit_s[task_id]
        if task.total is None or not paces:
            return None
        return statistics.median(paces) * max(0.0, task.total - task.completed)

    def _maybe_say(self, task_id: TaskID) -> None:
        task = self._task(task_id)
        done = task.total is not None and task.completed >= task.total
        now = self.get_time()
        if task_id in self._finished or not (done or now - self._said[task_id] >= self.every):
            return
        self._said[task_id] = now
        if done:
            self._finished.add(task_id)
        total = f"/{int(task.total)} ({100 * task.completed / task.total:.0f}%)" if task.total else ""
        line = f"{task.description}: {int(task.completed)}{total}, {duration(task.elapsed)} elapsed"
        if not done:
            line += f", about {duration(self.time_left(task_id))} left"
        self.console.print(escape(line), highlight=False, soft_wrap=True)
