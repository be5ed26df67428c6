"""The teacher-target cache: a cached step equals the live one, rows that agree on the teacher's
side read the same standpoints, the build resumes, and steps not yet built are computed live."""
import json

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import default_collate

from fada.errors import InputError
from fada.train.log_compare import compare_logs
from fada.train.objectives import make_objective
from fada.train.recipe import RECIPES_DIR, load_recipe
from fada.train.target_cache import build_target_cache, cache_key, key_material, open_cache
from fada.train.trainer import batch_indices, prepare_data, sample_generator, train
from fada_bench.rows import training_record


def recipe(tmp_path, folder, teacher, name, tiers=("A", "B"), parent=None, **objective):
    base = {"include": str(RECIPES_DIR / f"{name}.yaml"), "steps": 3, "checkpoint_every": 100, "log_every": 1,
            "parent": parent and str(parent), "data": {"folder": str(folder), "tiers": list(tiers), "n_frames": 4, "windows_per_clip": 1},
            "optim": {"batch_size": 2, "warmup_steps": 1, "lr": 2e-3},
            "objective": {"teacher": str(teacher), "phi_steps": 2, **objective}}
    p = tmp_path / f"{name}-{'-'.join(tiers)}.yaml"
    p.write_text(yaml.safe_dump(base))
    return load_recipe(p)


def key_of(r):
    obj = make_objective(r)
    ds, lat = prepare_data(r, obj)
    return cache_key(key_material(r, obj, len(ds), lat))


@pytest.mark.parametrize("name", ["perflow_tiny", "fada_fast_tiny"])
def test_cached_targets_equal_live_phi_and_give_the_live_loss(small_world, random_teacher, tmp_path, name):
    r = recipe(tmp_path, small_world[0], random_teacher, name)
    folder = build_target_cache(r, tmp_path / "cache")
    obj = make_objective(r)
    ds, lat = prepare_data(r, obj)
    cache = open_cache(tmp_path / "cache", r, obj, len(ds), lat)
    assert cache.folder == folder and cache.done == r.steps * 2
    for step in range(r.steps):
        picks = batch_indices(r.seed, step, 2, len(ds))
        batch = default_collate([ds.get(i, salt=e) for i, e in picks])
        gens = lambda: [sample_generator(r.seed, step, j) for j in range(2)]   # noqa: E731
        live = obj.teacher_targets(batch, gens())
        got = cache.read([step * 2, step * 2 + 1], picks)
        for k, v in live.items():
            np.testing.assert_allclose(got[k].numpy(), v, rtol=1e-5, atol=1e-6, err_msg=k)
        # the whole loss, cached against live, for the same step and seed
        obj.attach_cache(None)
        l_live, _ = obj.loss(dict(batch), gens())
        obj.attach_cache(cache)
        l_cached, logs = obj.loss({**batch, "sample_index": [step * 2, step * 2 + 1], "pick": picks}, gens())
        assert logs["cached"] == 1
        torch.testing.assert_close(l_cached, l_live, rtol=1e-5, atol=1e-6)
    assert "scales" in cache.arrays if name == "fada_fast_tiny" else "branch" in cache.arrays


def test_rows_that_agree_on_the_teacher_side_share_one_cache(small_world, random_teacher, tmp_path):
    folder = small_world[0]
    base = key_of(recipe(tmp_path, folder, random_teacher, "perflow_tiny"))
    # mixed supervision (Table 3's rows) changes nothing the teacher computes: one cache
    assert key_of(recipe(tmp_path, folder, random_teacher, "fixed_0p2_tiny")) == base
    assert key_of(recipe(tmp_path, folder, random_teacher, "fada_balanced_tiny")) == base
    # another training set, another sampler, or another guidance does not share it
    assert key_of(recipe(tmp_path, folder, random_teacher, "perflow_tiny", tiers=("A",))) != base
    rflow = key_of(recipe(tmp_path, folder, random_teacher, "rflow_tiny"))
    assert rflow != base
    # RFlow by velocity matching reads the epsilon row's cache: the student's output is not in the key
    assert key_of(recipe(tmp_path, folder, random_teacher, "rflow_v_tiny")) == rflow
    assert key_of(recipe(tmp_path, folder, random_teacher, "perflow_tiny", p_drop_audio=0.2)) != base
    # the CFG-distillation rows share theirs whatever the student's CFG layer
    assert key_of(recipe(tmp_path, folder, random_teacher, "cfg_layer_tiny")) == \
        key_of(recipe(tmp_path, folder, random_teacher, "cfg_time_embed_tiny"))


def test_two_rows_read_identical_standpoints_and_unbuilt_steps_run_live(small_world, random_teacher, tmp_path, monkeypatch):
    from fada.train import target_cache

    a = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    b = recipe(tmp_path, small_world[0], random_teacher, "fixed_0p2_tiny")
    build_target_cache(a, tmp_path / "cache", steps=2)        # the last step is left to run live
    seen = {}
    read = target_cache.TargetCache.read

    def spy(self, indices, picks=None):
        out = read(self, indices, picks)
        seen.setdefault(current, []).append({k: v.clone() for k, v in out.items()})
        return out
    monkeypatch.setattr(target_cache.TargetCache, "read", spy)
    for current, r in (("a", a), ("b", b)):
        if current == "b":      # stopped after 2 steps and resumed: the counts come back from the checkpoint
            train(r, tmp_path / current, target_cache=tmp_path / "cache", stop_at=2)
        train(r, tmp_path / current, target_cache=tmp_path / "cache")
        log = [json.loads(x) for x in (tmp_path / current / "log.jsonl").read_text().splitlines()]
        assert [x["cached"] for x in log] == [1, 1, 0]
        assert [(x["cached_samples"], x["live_samples"]) for x in log] == [(2, 0), (4, 0), (4, 2)]
        assert training_record(tmp_path, current)["target_samples"] == {"cached": 4, "live": 2}
    assert len(seen["a"]) == len(seen["b"]) == 2
    for ea, eb in zip(seen["a"], seen["b"]):
        assert ea.keys() == eb.keys() and all(torch.equal(ea[k], eb[k]) for k in ea)
    # Each start records the cache's key, and the two logs pair on the steps both read from it. At
    # step 1 both students are the teacher's weights on the same targets: the same L_distill.
    starts = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines() if "threads" in x]
    assert [x["target_cache"] for x in starts] == [key_of(a)] * 2
    assert training_record(tmp_path, "b")["target_cache"] == key_of(a)       # kept with the scored row
    both = compare_logs(tmp_path / "a", tmp_path / "b")
    assert (both.steps, both.first, both.last, both.caveat) == (2, 1, 2, "")
    assert compare_logs(tmp_path / "a", tmp_path / "b", last=1).median_ratio == pytest.approx(1.0, rel=1e-6)


def test_the_build_resumes_where_it_stopped(small_world, random_teacher, tmp_path):
    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    folder = build_target_cache(r, tmp_path / "cache", steps=1)
    first = np.load(folder / "z_end.npy")[:2].copy()
    assert json.loads((folder / "progress.json").read_text())["done"] == 2
    build_target_cache(r, tmp_path / "whole")
    build_target_cache(r, tmp_path / "cache")
    assert json.loads((folder / "progress.json").read_text())["done"] == 6
    np.testing.assert_array_equal(np.load(folder / "z_end.npy")[:2], first)
    whole = next((tmp_path / "whole").iterdir())
    for f in ("noise", "z_end", "window", "s", "branch", "clip", "epoch"):
        np.testing.assert_array_equal(np.load(folder / f"{f}.npy"), np.load(whole / f"{f}.npy"), err_msg=f)


def test_a_build_by_worker_processes_writes_the_entries_of_a_one_process_build(small_world, random_teacher,
                                                                                 tmp_path):
    # Two worker processes of one thread each, against this process on one thread: every step is
    # computed the same way, so the arrays are equal bit for bit, and a build resumed by workers
    # after a one-process start continues where it stopped.
    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = build_target_cache(r, tmp_path / "one")
        build_target_cache(r, tmp_path / "pool", steps=1)
        pooled = build_target_cache(r, tmp_path / "pool", workers=2)
    finally:
        torch.set_num_threads(threads)
    assert json.loads((pooled / "progress.json").read_text())["done"] == r.steps * 2
    for f in ("noise", "z_end", "window", "s", "branch", "clip", "epoch"):
        np.testing.assert_array_equal(np.load(pooled / f"{f}.npy"), np.load(one / f"{f}.npy"), err_msg=f)


def test_the_cache_exists_before_the_build_encodes_the_latents(small_world, random_teacher, tmp_path, monkeypatch):
    from fada.train import latents

    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    seen, real = [], latents.encode_clip_latents

    def spy(*args, **kwargs):
        seen.append([p.name for p in (tmp_path / "cache").glob("*/key.json")])
        return real(*args, **kwargs)
    monkeypatch.setattr(latents, "encode_clip_latents", spy)
    build_target_cache(r, tmp_path / "cache", steps=1)
    # a trainer started while the latents are encoded finds the cache rather than stopping
    assert seen == [["key.json"]]


def test_the_build_command_shows_a_new_training_sets_latents_being_encoded(small_world, random_teacher, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from fada_bench.cli import app

    world = tmp_path / "world"          # the small world without its latents: a new training set
    shutil.copytree(small_world[0], world, ignore=shutil.ignore_patterns("latents"))
    r = recipe(tmp_path, world, random_teacher, "perflow_tiny")
    args = ["train-cache", "build", str(r.source), "--cache", str(tmp_path / "cache"), "--steps"]
    first = CliRunner().invoke(app, args + ["1"], terminal_width=200)
    assert first.exit_code == 0, first.output + repr(first.exception)
    n = len(list((world / "latents").glob("*/*.npy")))
    assert n > 0 and f"encoding the training clips to latents (once per training set): {n}/{n}" in first.output
    again = CliRunner().invoke(app, args + ["2"], terminal_width=200)      # encoded already: no such bar
    assert again.exit_code == 0 and "encoding" not in again.output and "2/2" in again.output


def test_an_interrupted_build_says_so_keeps_its_entries_and_resumes(small_world, random_teacher, tmp_path,
                                                                     monkeypatch):
    from typer.testing import CliRunner

    from fada.train import target_cache
    from fada_bench.cli import app

    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    real = target_cache.step_targets

    def stopped_at_step_2(recipe, obj, ds, step):     # Ctrl-C, or SIGTERM (below), while step 2 runs
        if step == 1:
            raise KeyboardInterrupt
        return real(recipe, obj, ds, step)

    monkeypatch.setattr(target_cache, "step_targets", stopped_at_step_2)
    args = ["train-cache", "build", str(r.source), "--cache", str(tmp_path / "cache")]
    res = CliRunner().invoke(app, args, terminal_width=200)
    said = " ".join(res.output.split())
    assert res.exit_code == 130 and "interrupted" in said and "run the same command again to resume" in said
    folder = next((tmp_path / "cache").iterdir())
    assert json.loads((folder / "progress.json").read_text())["done"] == 2        # step 1's two entries
    monkeypatch.setattr(target_cache, "step_targets", real)
    assert CliRunner().invoke(app, args).exit_code == 0
    assert json.loads((folder / "progress.json").read_text())["done"] == r.steps * 2


def test_sigterm_inside_a_build_stops_it_as_ctrl_c_does():
    import signal
    import threading

    from fada.train.target_cache import _sigterm_stops

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are installed in the main thread only")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with _sigterm_stops():
            signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_cfg_cache_builds_before_its_parent_exists_and_serves_the_trained_parent(small_world, random_teacher,
                                                                                     tmp_path):
    untrained = recipe(tmp_path, small_world[0], random_teacher, "fada_fast_tiny", parent=tmp_path / "not-yet")
    folder = build_target_cache(untrained, tmp_path / "cache")
    assert json.loads((folder / "progress.json").read_text())["done"] == 6
    # once the parent exists, the row it starts finds that cache
    trained = recipe(tmp_path, small_world[0], random_teacher, "fada_fast_tiny", parent=random_teacher)
    assert key_of(trained) == folder.name


def test_a_missing_cache_or_an_uncacheable_kind_names_the_fix(small_world, random_teacher, tmp_path):
    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    with pytest.raises(InputError, match="train-cache build"):
        train(r, tmp_path / "out", target_cache=tmp_path / "nothing")
    with pytest.raises(InputError, match="no cacheable teacher targets"):
        build_target_cache(recipe(tmp_path, small_world[0], random_teacher, "tcd_tiny"), tmp_path / "cache")


def test_a_second_builder_of_a_cache_stops_before_making_its_arrays(small_world, random_teacher, tmp_path,
                                                                      lock_holder):
    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    folder = tmp_path / "cache" / key_of(r)
    p = lock_holder(folder, "built", "build")
    with pytest.raises(InputError, match=rf"{folder.name} is being built by process {p.pid} on"):
        build_target_cache(r, tmp_path / "cache")
    assert [x.name for x in folder.iterdir()] == [".build.lock"]               # no key.json, no arrays


def test_the_cache_list_shows_each_build_and_names_an_unreadable_folder(small_world, random_teacher, tmp_path):
    from typer.testing import CliRunner

    from fada.hashing import folder_sha256
    from fada.train.target_cache import cache_summaries
    from fada_bench.cli import app

    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    folder = build_target_cache(r, tmp_path / "cache", steps=1)
    (tmp_path / "cache" / "broken").mkdir()
    (tmp_path / "cache" / "broken" / "key.json").write_text("{")
    got = {row["key"]: row for row in cache_summaries(tmp_path / "cache")}
    assert set(got) == {folder.name, "broken"}
    row = got[folder.name]
    assert (row["tiers"], row["windows"], row["phi_steps"], row["steps_done"], row["steps"]) == ("A+B", 4, 2, 1, 3)
    assert row["teacher"] == folder_sha256(random_teacher)[:12]
    assert row["full_bytes"] == sum(f.stat().st_size for f in folder.iterdir())
    assert "not a readable cache" in got["broken"]["problem"]
    res = CliRunner().invoke(app, ["train-cache", "list", "--cache", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    assert folder.name in res.output and "1 of 3 (33%)" in res.output and "broken" in res.output
    assert cache_summaries(tmp_path / "none") == []


def test_a_build_the_disk_cannot_hold_stops_with_the_numbers_before_writing(small_world, random_teacher, tmp_path,
                                                                            monkeypatch):
    from collections import namedtuple

    import fada.train.target_cache as tc

    r = recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    folder = build_target_cache(r, tmp_path / "cache", steps=1)
    entry = sum(np.load(f, mmap_mode="r")[0].nbytes for f in folder.glob("*.npy"))   # one entry, every field
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(tc.shutil, "disk_usage", lambda p: usage(10**12, 0, 4 * entry - 1))   # 4 entries are left
    with pytest.raises(InputError, match=rf"needs {4 * entry / 1e6:.1f} MB more and the disk has"):
        build_target_cache(r, tmp_path / "cache")
    assert json.loads((folder / "progress.json").read_text())["done"] == 2
    monkeypatch.undo()
    build_target_cache(r, tmp_path / "cache")
    assert json.loads((folder / "progress.json").read_text())["done"] == 6


def test_a_cached_row_stopped_and_resumed_equals_the_uninterrupted_row_bit_for_bit(small_world, random_teacher,
                                                                                   tmp_path):
    # Two trainings of one recipe from one complete cache read the same standpoints and targets,
    # so a resume (at any checkpoint) must not change a single weight: rows compared by common
    # random numbers differ only by their recipes.
    r = recipe(tmp_path, small_world[0], random_teacher, "fada_balanced_tiny")
    build_target_cache(r, tmp_path / "cache")
    train(r, tmp_path / "whole", target_cache=tmp_path / "cache")
    train(r, tmp_path / "resumed", target_cache=tmp_path / "cache", stop_at=1)
    train(r, tmp_path / "resumed", target_cache=tmp_path / "cache")
    a = torch.load(tmp_path / "whole" / "checkpoint" / "state.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint" / "state.pt", weights_only=True)
    assert a["step"] == b["step"] == r.steps
    for part in ("params", "ema"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert training_record(tmp_path, "resumed")["target_samples"] == {"cached": 6, "live": 0}
