"""Progress for a log file: one plain line per task at most every `every` seconds, and one when the
task finishes, for long jobs run in the background (`nohup fada-bench train ... > log 2>&1 &`),
whose output a live bar would leave empty for hours."""
from __future__ import annotations

import time

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
    `perflow_tiny loss 0.0012: 200/4000 (5%), 0:07:40 elapsed, about 2:25:30 left`."""

    def __init__(self, *, console, every: float, clock=time.monotonic):
        # rich estimates the speed from the steps of its last `speed_estimate_period` seconds (30 by
        # default): a task slower than a step per 30 s (a 512 px clip rendered on one core) would
        # never show what is left. Ten intervals of history cover those and smooth the rest.
        super().__init__(console=console, disable=True, get_time=clock,
                         speed_estimate_period=max(30.0, 10 * every))
        self.every = every
        self._said: dict[TaskID, float] = {}
        self._finished: set[TaskID] = set()

    def add_task(self, description: str, *args, **kwargs) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        self._said[task_id] = self.get_time()
        return task_id

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._maybe_say(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_say(task_id)

    def _maybe_say(self, task_id: TaskID) -> None:
        task = next(t for t in self.tasks if t.id == task_id)
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
            line += f", about {duration(task.time_remaining)} left"
        self.console.print(escape(line), highlight=False, soft_wrap=True)
