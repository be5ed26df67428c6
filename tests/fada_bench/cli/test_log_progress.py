"""Progress in a log file: where stderr is not a terminal, long commands print plain lines (at most
one per task per interval, and one when it finishes) instead of a live bar that shows nothing."""
import io

from rich.console import Console

from fada_bench.cli import common
from fada_bench.cli.log_progress import LogProgress, duration


def logged(every=60):
    """A LogProgress writing to a string, on a clock the test moves: (progress, output, clock)."""
    out, now = io.StringIO(), [0.0]
    return LogProgress(console=Console(file=out, width=200), every=every, clock=lambda: now[0]), out, now


def test_lines_come_at_the_interval_with_elapsed_time_and_what_is_left():
    p, out, now = logged()
    with p:
        task = p.add_task("perflow_tiny (perflow)", total=100)
        for step in range(1, 101):
            now[0] += 2.0                     # 2 s a step: a line every 30 steps, and the last
            p.update(task, completed=step, description=f"perflow_tiny loss {0.5 / step:.4f}")
        p.update(task, completed=100)         # finished: said once
    lines = out.getvalue().splitlines()
    assert lines == ["perflow_tiny loss 0.0167: 30/100 (30%), 0:01:00 elapsed, about 0:02:20 left",
                     "perflow_tiny loss 0.0083: 60/100 (60%), 0:02:00 elapsed, about 0:01:20 left",
                     "perflow_tiny loss 0.0056: 90/100 (90%), 0:03:00 elapsed, about 0:00:20 left",
                     "perflow_tiny loss 0.0050: 100/100 (100%), 0:03:20 elapsed"]


def test_a_task_slower_than_a_step_per_half_minute_still_says_what_is_left():
    p, out, now = logged()
    with p:
        task = p.add_task("rendering clips", total=10)
        for _ in range(4):
            now[0] += 45.0                    # 45 s a clip: rich's default 30 s window holds one step
            p.advance(task)
    lines = out.getvalue().splitlines()
    assert lines[0] == "rendering clips: 2/10 (20%), 0:01:30 elapsed, about 0:06:00 left"
    assert all("?" not in line for line in lines)


def test_a_pause_or_a_resumed_start_does_not_change_what_is_left():
    """A background job stopped for ten minutes (SIGSTOP) and continued, and a job resumed at step
    2400 whose first update jumps there: what is left follows the 2 s a step it runs at."""
    p, out, now = logged()
    with p:
        task = p.add_task("cfg_layer_tiny", total=4000)
        now[0] += 40.0                        # loading the models and the first step
        p.update(task, completed=2401)
        for step in range(2402, 2452):
            now[0] += 2.0 + (600.0 if step == 2430 else 0.0)
            p.update(task, completed=step)
    lines = out.getvalue().splitlines()
    assert lines[0] == "cfg_layer_tiny: 2411/4000 (60%), 0:01:00 elapsed, about 0:52:58 left"
    assert lines[-1] == "cfg_layer_tiny: 2430/4000 (61%), 0:11:38 elapsed, about 0:52:20 left"
    # A lasting change of speed (now sharing the cores) shows once it is most of the recent 20.
    pace = {}
    for step in range(2452, 2463):
        now[0] += 4.0
        p.update(task, completed=step)
        pace[step] = p.time_left(task) / (4000 - step)
    assert (pace[2460], pace[2461], pace[2462]) == (2.0, 3.0, 4.0)


def test_advance_and_markup_in_names_are_printed_as_written():
    p, out, _ = logged(every=1e9)
    with p:
        task = p.add_task("fid[synthetic]", total=2)
        p.advance(task)
        assert out.getvalue() == ""           # not finished, interval not reached
        p.advance(task)
    assert out.getvalue().splitlines()[0].startswith("fid[synthetic]: 2/2 (100%), 0:00:0")


def test_a_terminal_gets_the_live_bar_and_a_file_gets_lines(monkeypatch):
    monkeypatch.setattr(common, "console", Console(file=io.StringIO(), force_terminal=False))
    assert isinstance(common._progress("run"), LogProgress)
    monkeypatch.setattr(common, "console", Console(file=io.StringIO(), force_terminal=True))
    assert not isinstance(common._progress("run"), LogProgress)
    assert (duration(None), duration(3725.4)) == ("?", "1:02:05")
