"""Fixtures of the training tests."""
import subprocess
import sys

import pytest

HOLD = ("import sys, time\nfrom fada.train.run_lock import exclusive\n"
        "with exclusive(sys.argv[1], sys.argv[2], sys.argv[3]):\n    print('held', flush=True)\n    time.sleep(600)")


@pytest.fixture
def lock_holder():
    """`hold(folder, doing, name)`: another process holding `run_lock.exclusive`, as a running
    trainer or cache builder does; returns the process (killed with SIGKILL at the latest when the
    test ends)."""
    procs = []

    def hold(folder, doing, name):
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), doing, name], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "held"
        return p
    yield hold
    for p in procs:
        p.kill()
        p.wait()
