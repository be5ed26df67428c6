"""One writer per training run: a second trainer stops with an error that names the first, before it
reads or writes anything, and a holder killed with SIGKILL leaves no lock behind. (One builder per
teacher-target cache: test_target_cache.py.)"""
import os

import pytest
import yaml

from fada.errors import InputError
from fada.train.recipe import RECIPES_DIR, load_recipe
from fada.train.run_lock import exclusive
from fada.train.trainer import train


def test_a_second_trainer_of_a_run_stops_naming_the_first_and_a_killed_one_leaves_no_lock(tmp_path, lock_holder):
    out = tmp_path / "runs" / "teacher_tiny"
    # No data and no steps: were the lock not checked first, this would fail on the missing data.
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "teacher_tiny.yaml"),
                                                     "data": {"folder": str(tmp_path / "no-data")}}))
    p = lock_holder(out, "trained", "train-rank0")
    with pytest.raises(InputError, match=rf"runs/teacher_tiny is being trained by process {p.pid} on .+ "
                                         r"since .+ UTC; wait for it to end"):
        train(load_recipe(tmp_path / "r.yaml"), out, stop_at=0)
    assert [x.name for x in out.iterdir()] == [".train-rank0.lock"]          # no checkpoint read, nothing written
    p.kill()
    p.wait()
    with exclusive(out, "trained", "train-rank0"):          # the killed holder's lock went with it
        with pytest.raises(InputError, match=f"by process {os.getpid()} on"):
            with exclusive(out, "trained", "train-rank0"):  # a second holder in the same process is refused too
                pass
    with exclusive(out, "trained", "train-rank0"):          # and the lock is free again after the block
        pass


def test_a_start_that_fails_before_writing_leaves_no_folder_it_made(tmp_path):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "teacher_tiny.yaml"),
                                                     "data": {"folder": str(tmp_path / "no-data")}}))
    out = tmp_path / "runs" / "teacher_tiny"
    with pytest.raises(InputError):                         # no VAE checkpoint, no data
        train(load_recipe(tmp_path / "r.yaml"), out, stop_at=0)
    assert not out.exists() and (tmp_path / "runs").is_dir()
    # a folder that was there, or one the failed block wrote into, is kept as it is
    out.mkdir()
    with pytest.raises(InputError):
        train(load_recipe(tmp_path / "r.yaml"), out, stop_at=0)
    assert [x.name for x in out.iterdir()] == [".train-rank0.lock"]
    with pytest.raises(RuntimeError):
        with exclusive(tmp_path / "other", "trained"):
            (tmp_path / "other" / "log.jsonl").write_text("{}\n")
            raise RuntimeError("stopped")
    assert sorted(x.name for x in (tmp_path / "other").iterdir()) == [".lock.lock", "log.jsonl"]
