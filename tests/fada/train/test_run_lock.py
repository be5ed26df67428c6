"""One writer per training run and per teacher-target cache: a second trainer or builder stops with
an error that names the first, before it reads or writes anything, and a holder killed with
SIGKILL leaves no lock behind."""
import os
import subprocess
import sys

import pytest
import yaml

from fada.errors import InputError
from fada.train.objectives import make_objective
from fada.train.recipe import RECIPES_DIR, load_recipe
from fada.train.run_lock import exclusive
from fada.train.target_cache import build_target_cache, cache_key, key_material
from fada.train.trainer import prepare_data, train

HOLD = ("import sys, time\nfrom fada.train.run_lock import exclusive\n"
        "with exclusive(sys.argv[1], sys.argv[2], sys.argv[3]):\n    print('held', flush=True)\n    time.sleep(600)")


def hold(folder, doing, name):
    """Another process holding the lock, as a running trainer or builder does."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), doing, name], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_trainer_of_a_run_stops_naming_the_first_and_a_killed_one_leaves_no_lock(tmp_path):
    out = tmp_path / "runs" / "teacher_tiny"
    # No data and no steps: were the lock not checked first, this would fail on the missing data.
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "teacher_tiny.yaml"),
                                                     "data": {"folder": str(tmp_path / "no-data")}}))
    p = hold(out, "trained", "train-rank0")
    try:
        with pytest.raises(InputError, match=rf"runs/teacher_tiny is being trained by process {p.pid} on .+ "
                                             r"since .+ UTC; wait for it to end"):
            train(load_recipe(tmp_path / "r.yaml"), out, stop_at=0)
        assert [x.name for x in out.iterdir()] == [".train-rank0.lock"]      # no checkpoint read, nothing written
    finally:
        p.kill()
        p.wait()
    with exclusive(out, "trained", "train-rank0"):          # the killed holder's lock went with it
        with pytest.raises(InputError, match=f"by process {os.getpid()} on"):
            with exclusive(out, "trained", "train-rank0"):  # a second holder in the same process is refused too
                pass
    with exclusive(out, "trained", "train-rank0"):          # and the lock is free again after the block
        pass


def test_a_second_builder_of_a_cache_stops_before_making_its_arrays(small_world, random_teacher, tmp_path):
    over = {"include": str(RECIPES_DIR / "perflow_tiny.yaml"), "steps": 2, "parent": None,
            "data": {"folder": str(small_world[0]), "tiers": ["A", "B"], "n_frames": 4, "windows_per_clip": 1},
            "optim": {"batch_size": 2}, "objective": {"teacher": str(random_teacher), "phi_steps": 2}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(over))
    r = load_recipe(tmp_path / "r.yaml")
    obj = make_objective(r)
    ds, lat = prepare_data(r, obj)
    folder = tmp_path / "cache" / cache_key(key_material(r, obj, len(ds), lat))
    p = hold(folder, "built", "build")
    try:
        with pytest.raises(InputError, match=rf"{folder.name} is being built by process {p.pid} on"):
            build_target_cache(r, tmp_path / "cache")
        assert [x.name for x in folder.iterdir()] == [".build.lock"]           # no key.json, no arrays
    finally:
        p.kill()
        p.wait()
