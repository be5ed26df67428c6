"""The training loop: recipes, condition dropout, loss goes down, exact resume."""
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

import pytest
import torch
import yaml

from fada.data.manifest import manifest_sha256
from fada.errors import InputError
from fada.losses.teacher import BRANCH_A, BRANCH_B, BRANCH_R, apply_dropout, sample_branches
from fada.train.recipe import RECIPES_DIR, load_recipe
from fada.train.interrupt import TrainingInterrupted
from fada.train.trainer import batch_indices, checkpoint_step, train


def write_recipe(tmp_path, folder, **over):
    base = {"include": str(RECIPES_DIR / "teacher_tiny.yaml"), "vae": None, "steps": 4, "checkpoint_every": 2,
            "log_every": 1, "data": {"folder": str(folder), "tiers": ["A", "B"], "n_frames": 4,
                                      "windows_per_clip": 2},
            "optim": {"batch_size": 2, "warmup_steps": 1, "lr": 1e-3}}
    base.update(over)
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(base))
    return load_recipe(p)


def test_recipes_in_the_repository_load():
    for name in ("vae_tiny", "teacher_tiny"):
        r = load_recipe(name)
        assert r.name == name and r.config == "tiny"


def test_unknown_recipe_field_names_the_file_and_field(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "teacher_tiny.yaml"), "optim": {"learning_rate": 1}}))
    with pytest.raises(InputError, match=r"bad.yaml: unknown recipe key 'optim.learning_rate'"):
        load_recipe(p)
    with pytest.raises(InputError, match="known: .*teacher_tiny"):
        load_recipe("no_such_recipe")


def test_every_shipped_recipe_parses_into_its_kinds_dataclass():
    from fada.train.recipe import OBJECTIVE_SPECS

    names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml") if not p.stem.startswith("_"))
    assert len(names) >= 17
    for name in names:
        r = load_recipe(name)
        assert isinstance(r.objective, OBJECTIVE_SPECS[r.kind]), name
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.steps = 1
    fast = load_recipe("fada_fast_tiny").objective        # three files deep: fada_fast -> _cfg_distill -> ...
    assert (fast.cfg_mode, fast.cfg_a_range, fast.mixed.kind, fast.phi_steps) == ("layer_tokens", (1.0, 8.0), "adaptive", 8)
    assert load_recipe("student_b_fixed0_tiny").objective.mixed == "none"
    assert load_recipe("perflow_tiny").objective.mixed is None
    assert load_recipe("rflow_tiny").objective.phi_steps == 25


def test_recipe_kinds_are_the_registered_objectives_and_each_names_its_section(tmp_path):
    # One list: the kinds a recipe may name, and the dataclass of each kind's `objective` section,
    # are read from the objectives registry; an objective registered later (a plugin's) is a kind at once.
    from fada.train.objectives import OBJECTIVES
    from fada.train.objectives.base import Objective
    from fada.train.recipe import OBJECTIVE_SPECS, ObjectiveSpec, recipe_kinds

    assert set(recipe_kinds()) == set(OBJECTIVES.names()) == set(OBJECTIVE_SPECS)
    assert {"vae", "teacher", "perflow", "rflow", "tcd"} <= set(recipe_kinds())
    for kind in recipe_kinds():
        assert OBJECTIVE_SPECS[kind] is OBJECTIVES.get(kind).spec and issubclass(OBJECTIVE_SPECS[kind], ObjectiveSpec)

    @dataclasses.dataclass(frozen=True)
    class ToySpec(ObjectiveSpec):
        strength: float = 1.0

    @OBJECTIVES.register("toy_kind")
    class Toy(Objective):
        spec = ToySpec

    try:
        p = tmp_path / "toy.yaml"
        p.write_text(yaml.safe_dump({"kind": "toy_kind", "objective": {"strength": 3.0}}))
        r = load_recipe(p)
        assert r.kind == "toy_kind" and r.objective == ToySpec(strength=3.0)
        p.write_text(yaml.safe_dump({"kind": "toy_kind", "objective": {"strenght": 3.0}}))
        with pytest.raises(InputError, match=r"unknown recipe key 'objective.strenght' \(did you mean 'objective.strength'\?\)"):
            load_recipe(p)
    finally:
        OBJECTIVES.remove("toy_kind")
    assert "toy_kind" not in recipe_kinds()
    p.write_text(yaml.safe_dump({"kind": "toy_kind"}))
    with pytest.raises(InputError, match="kind 'toy_kind' is not valid"):
        load_recipe(p)


@pytest.mark.parametrize("section,key,closest", [("objective", "phi_step", "phi_steps"),
                                                 ("objective", "cfg_mod", "cfg_mode"),
                                                 ("data", "tier", "tiers"),
                                                 (None, "ema_decy", "ema_decay")])
def test_a_misspelt_key_names_itself_its_file_and_the_closest_key(tmp_path, section, key, closest):
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "perflow_tiny.yaml"),
                                 **({section: {key: 2}} if section else {key: 2})}))
    dotted = f"{section}.{key}" if section else key
    near = f"{section}.{closest}" if section else closest
    with pytest.raises(InputError) as e:
        load_recipe(p)
    assert str(e.value).startswith(f"{p}: unknown recipe key '{dotted}' (did you mean '{near}'?); valid: ")


def test_a_key_misspelt_in_an_included_file_names_that_file(tmp_path):
    parent = tmp_path / "_parent.yaml"
    parent.write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "perflow_tiny.yaml"),
                                      "objective": {"mixed": {"kind": "fixed", "w_0": 0.2}}}))
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"include": "_parent.yaml", "steps": 3}))
    with pytest.raises(InputError, match=rf"^{parent}: unknown recipe key 'objective.mixed.w_0' \(did you mean 'objective.mixed.w0'\?\)"):
        load_recipe(child)


@pytest.mark.parametrize("over,words", [({"kind": "perflw"}, "kind 'perflw' is not valid (did you mean 'perflow'?)"),
                                        ({"config": "huge"}, "config 'huge' is not valid"),
                                        ({"objective": {"cfg_mode": "layers"}}, "cfg_mode 'layers' is not valid"),
                                        ({"objective": {"p_drop_audio": 1.5}}, "p_drop_audio must be a number from 0 to 1"),
                                        ({"data": {"tiers": ["C"]}}, "tier 'C' is not valid"),
                                        ({"objective": {"mixed": {"kind": "adaptiv"}}}, "unknown mixed supervision kind")])
def test_a_bad_value_names_its_field_and_file(tmp_path, over, words):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "perflow_tiny.yaml"), **over}))
    with pytest.raises(InputError) as e:
        load_recipe(p)
    assert str(e.value).startswith(str(p)) and words in str(e.value), str(e.value)


def test_train_refuses_a_typo_before_any_checkpoint_loads(tmp_path, monkeypatch, capsys):
    # The teacher named here does not exist: had anything been loaded, that would be the error.
    import sys

    from fada_bench.cli import main

    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump({"include": str(RECIPES_DIR / "perflow_tiny.yaml"),
                                 "objective": {"teacher": str(tmp_path / "no_teacher"), "phi_step": 2}}))
    monkeypatch.setattr(sys, "argv", ["fada-bench", "train", str(p), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert f"{p}: unknown recipe key 'objective.phi_step' (did you mean 'objective.phi_steps'?)" in err.replace("\n", "")
    assert not (tmp_path / "out").exists()


def test_condition_dropout_proportions():
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    b = sample_branches(u, 0.1, 0.05)
    frac = [(b == k).float().mean().item() for k in (BRANCH_A, BRANCH_R, BRANCH_B)]
    # binomial standard error at n = 20000 is below 0.004
    assert frac == pytest.approx([0.85, 0.10, 0.05], abs=0.012)


def test_dropout_zeroes_the_right_conditions():
    audio = torch.ones(3, 5, 1, 4)
    bank = {"x": torch.ones(3, 7, 2)}
    a, bk = apply_dropout(torch.tensor([BRANCH_A, BRANCH_R, BRANCH_B]), audio, bank)
    assert a[0].sum() > 0 and a[1].sum() == 0 and a[2].sum() == 0
    assert bk["x"][0].sum() > 0 and bk["x"][1].sum() > 0 and bk["x"][2].sum() == 0


def test_batches_cover_the_data_once_per_epoch():
    seen = [i for s in range(5) for i, e in batch_indices(0, s, 4, 20)]
    assert sorted(seen) == list(range(20))


@pytest.fixture(scope="module")
def uninterrupted(small_world, tmp_path_factory):
    folder = small_world[0]
    tmp = tmp_path_factory.mktemp("run_full")
    r = write_recipe(tmp, folder)
    train(r, tmp / "out")
    return folder, tmp / "out"


def test_teacher_trains_and_writes_a_model(uninterrupted):
    folder, out = uninterrupted
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # the start's record names the training set (by its manifest's content)
    assert log[0]["training_set_sha256"] == manifest_sha256(folder)
    assert (out / "model" / "fada.json").is_file()
    assert (out / "model" / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()


def _same_state(a_folder, b_folder):
    a = torch.load(a_folder / "checkpoint" / "state.pt", weights_only=True)
    b = torch.load(b_folder / "checkpoint" / "state.pt", weights_only=True)
    assert a["step"] == b["step"]
    for k in a["params"]:
        assert torch.allclose(a["params"][k], b["params"][k], atol=1e-6), k


def test_kill_and_resume_equals_uninterrupted(uninterrupted, tmp_path):
    folder, full = uninterrupted
    r = write_recipe(tmp_path, folder)
    out = tmp_path / "out"
    train(r, out, stop_at=2)                       # "killed" after step 2 (its checkpoint is there)
    assert not (out / "model").exists()
    train(r, out)                                  # resumed
    assert checkpoint_step(out) == 4
    _same_state(full, out)


def _signals_at(step, *signums):
    """A progress callback that sends `signums` to this process when `step` is done."""
    def progress(done, total, loss):
        if done == step:
            for s in signums:
                signal.raise_signal(s)
    return progress


def _needs_handlers(signum):
    # Handlers can only be installed in the main thread, and a signal the process ignores stays
    # ignored: without them the signal would end or be lost to this test process.
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    if signal.getsignal(signum) in (signal.SIG_IGN, None):
        pytest.skip(f"{signal.Signals(signum).name} is ignored in this process")


def test_sigterm_saves_a_checkpoint_at_the_step_it_stops_and_resume_equals_uninterrupted(uninterrupted, tmp_path):
    _needs_handlers(signal.SIGTERM)
    folder, full = uninterrupted
    r = write_recipe(tmp_path, folder)                 # 4 steps, a checkpoint every 2
    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(r, out, progress=_signals_at(1, signal.SIGTERM))
    assert (stopped.value.step, stopped.value.signum, stopped.value.exit_code) == (1, signal.SIGTERM, 143)
    assert signal.getsignal(signal.SIGTERM) is before       # the handler is gone with the run
    assert checkpoint_step(out) == 1                  # saved where it stopped, not at the last scheduled one
    assert not (out / "model").exists()
    train(r, out)                                      # resumed
    _same_state(full, out)


def test_a_second_ctrl_c_stops_at_once_without_a_checkpoint(small_world, tmp_path):
    _needs_handlers(signal.SIGINT)
    r = write_recipe(tmp_path, small_world[0])
    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGINT)
    if before is not signal.default_int_handler:        # what turns the second Ctrl-C into the exception
        pytest.skip("SIGINT has another handler in this process")
    with pytest.raises(KeyboardInterrupt) as stopped:
        train(r, out, progress=_signals_at(1, signal.SIGINT, signal.SIGINT))
    assert not isinstance(stopped.value, TrainingInterrupted)
    assert checkpoint_step(out) is None
    assert signal.getsignal(signal.SIGINT) is before


def test_a_save_stopped_between_its_renames_resumes_from_the_new_checkpoint(uninterrupted, tmp_path):
    # _save_checkpoint writes checkpoint.tmp/, moves checkpoint/ to checkpoint.old/, then moves
    # checkpoint.tmp/ in: stopped between the two moves, only .old (step 2) and .tmp (step 3) are left.
    folder, full = uninterrupted
    r = write_recipe(tmp_path, folder)
    out, later = tmp_path / "out", tmp_path / "later"
    train(r, out, stop_at=2)
    train(r, later, stop_at=3)
    (out / "checkpoint").rename(out / "checkpoint.old")
    shutil.copytree(later / "checkpoint", out / "checkpoint.tmp")
    assert checkpoint_step(out) == 3                   # read without moving anything
    assert not (out / "checkpoint").exists()
    train(r, out)
    assert not (out / "checkpoint.old").exists() and not (out / "checkpoint.tmp").exists()
    _same_state(full, out)


def test_the_cli_stopped_by_sigterm_exits_143_with_a_checkpoint_and_says_how_to_resume(small_world, tmp_path):
    write_recipe(tmp_path, small_world[0], steps=500, checkpoint_every=400)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fada_bench.cli", "train", str(tmp_path / "r.yaml"), "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ((out / "log.jsonl").is_file() and len((out / "log.jsonl").read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        text = proc.communicate(timeout=300)[0]
    finally:
        proc.kill()
    assert proc.returncode == 143, text[-3000:]
    assert "run the same command again to resume" in " ".join(text.split())
    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])["step"]
    assert checkpoint_step(out) == last < 500          # the step it stopped after, not step 400


def _fixed_batch_loss(recipe, folder, n=8, salt=7, seed=123):
    """Mean loss of the recipe's objective on a fixed batch (fixed windows, timesteps and noise)."""
    from torch.utils.data import default_collate

    from fada.data.dataset import ClipDataset
    from fada.train.objectives import make_objective
    from fada.train.trainer import sample_generator

    obj = make_objective(recipe)
    ds = ClipDataset(folder, tiers=None, n_frames=4)
    batch = default_collate([ds.get(i % len(ds), salt=salt) for i in range(n)])
    with torch.no_grad():
        loss, _ = obj.loss(batch, [sample_generator(seed, 0, i) for i in range(n)])
    return float(loss.mean())


def test_teacher_loss_goes_down(small_world, tmp_path):
    # 30 steps on a handful of clips with a high learning rate: the loss on a fixed batch must fall.
    folder = small_world[0]
    r = write_recipe(tmp_path, folder, steps=30, checkpoint_every=100, ema_decay=0.0,
                     optim={"batch_size": 2, "warmup_steps": 1, "lr": 2e-3})
    before = _fixed_batch_loss(r, folder)
    train(r, tmp_path / "out")
    r = dataclasses.replace(r, parent=str(tmp_path / "out" / "model"))
    after = _fixed_batch_loss(r, folder)
    assert after < 0.7 * before, (before, after)


def _distill_recipe(tmp_path, folder, teacher, name, **objective):
    base = {"include": str(RECIPES_DIR / f"{name}.yaml"), "steps": 2, "checkpoint_every": 100, "log_every": 1,
            "parent": None, "data": {"folder": str(folder), "tiers": ["A", "B"], "n_frames": 4, "windows_per_clip": 1},
            "optim": {"batch_size": 2, "warmup_steps": 1, "lr": 2e-3},
            "objective": {"teacher": str(teacher), "phi_steps": 2, **objective}}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(base))
    return load_recipe(p)


@pytest.mark.parametrize("name", ["perflow_tiny", "rflow_tiny", "tcd_tiny", "student_b_fixed0_tiny", "fada_fast_tiny"])
def test_distillation_recipes_run_and_log(small_world, random_teacher, tmp_path, name):
    r = _distill_recipe(tmp_path, small_world[0], random_teacher, name)
    train(r, tmp_path / "out")
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(np.isfinite(x["loss"]) for x in log)
    if name not in ("perflow_tiny", "rflow_tiny", "tcd_tiny"):
        assert "R" in log[0] and "W" in log[0]          # mixed supervision logs R and W per step
    if name == "student_b_fixed0_tiny":
        assert all(x["W"] == 0 for x in log)


# PeRFlow; TCD; PeRFlow + adaptive mixed supervision + CFG distillation with tokens (FADA-Fast).
@pytest.mark.parametrize("name", ["perflow_tiny", "tcd_tiny", "fada_fast_tiny"])
def test_distillation_loss_goes_down(small_world, random_teacher, tmp_path, name):
    from fada.models.bundle import build_models

    # The student starts from another random model, so there is a gap to the teacher to close
    # (a student initialised from the teacher starts with a near-zero loss).
    folder = small_world[0]
    build_models("tiny", seed=11).save(tmp_path / "far_student")
    r = _distill_recipe(tmp_path, folder, random_teacher, name, phi_steps=1)
    r = dataclasses.replace(r, steps=20, ema_decay=0.0, parent=str(tmp_path / "far_student"))

    before = _fixed_batch_loss(r, folder, n=6, salt=3, seed=9)
    train(r, tmp_path / "out")
    r = dataclasses.replace(r, parent=str(tmp_path / "out" / "model"))
    after = _fixed_batch_loss(r, folder, n=6, salt=3, seed=9)
    assert after < 0.8 * before, (before, after)


def test_tcd_kill_and_resume_keeps_the_target_network(small_world, random_teacher, tmp_path):
    # TCD carries state besides the weights (its EMA target network): a resumed run must restore it.
    r = _distill_recipe(tmp_path, small_world[0], random_teacher, "tcd_tiny")
    r = dataclasses.replace(r, steps=4, checkpoint_every=2)
    train(r, tmp_path / "full")
    train(r, tmp_path / "split", stop_at=2)
    train(r, tmp_path / "split")
    a = torch.load(tmp_path / "full" / "checkpoint" / "state.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint" / "state.pt", weights_only=True)
    assert a["objective"]["target"].keys() == b["objective"]["target"].keys()
    for k, v in a["objective"]["target"].items():
        assert torch.allclose(v, b["objective"]["target"][k], atol=1e-6), k
    for k in a["params"]:
        assert torch.allclose(a["params"][k], b["params"][k], atol=1e-6), k


def test_two_processes_give_the_one_process_loss_curve(small_world, tmp_path):
    # The same global batch split over two gloo processes (torchrun) must reproduce one process:
    # per-sample randomness is seeded by the global sample index and gradients are all-reduced.
    import os
    import subprocess
    import sys

    r = write_recipe(tmp_path, small_world[0], steps=5, checkpoint_every=100, optim={"batch_size": 4, "warmup_steps": 1, "lr": 1e-3})
    train(r, tmp_path / "one")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "fada_bench.cli", "train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    one = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in two] == [1, 2, 3, 4, 5]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (a, b)
    a = torch.load(tmp_path / "one" / "checkpoint" / "state.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint" / "state.pt", weights_only=True)
    for k in a["params"]:
        assert torch.allclose(a["params"][k], b["params"][k], atol=1e-4), k


def test_export_writes_the_checkpoints_ema_weights_as_a_model(uninterrupted, tmp_path):
    from fada.models.bundle import load_models
    from fada.train.trainer import export_checkpoint

    folder, full = uninterrupted
    r = write_recipe(tmp_path, folder)
    step = export_checkpoint(r, full, tmp_path / "export")
    assert step == 4
    exported = load_models(tmp_path / "export").denoiser.state_dict()
    final = load_models(full / "model").denoiser.state_dict()      # the final save is the EMA too
    for k in final:
        assert torch.equal(exported[k], final[k]), k
    with pytest.raises(InputError, match="no checkpoint to export"):
        export_checkpoint(r, tmp_path / "nothing", tmp_path / "e2")


def test_distillation_moves_its_frozen_teacher_with_the_student(small_world, random_teacher, tmp_path):
    # The trainer moves the objective to its device; the teacher is not in the student's bundle,
    # and a teacher left on the CPU breaks the first GPU step.
    from fada.train.objectives import make_objective

    obj = make_objective(_distill_recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny"))
    obj.to("meta")
    assert next(obj.teacher.parameters()).device.type == "meta"
    assert next(obj.models.denoiser.parameters()).device.type == "meta"


def test_compiled_training_matches_eager(small_world, random_teacher, tmp_path, monkeypatch):
    # `--compile` traces the student, the ReferenceNet and the teacher. aot_eager traces them as
    # inductor would (a graph break or a trace that changes the arithmetic shows here) without
    # inductor's minutes of C++ compiling on a CPU.
    compiled, plain = [], torch.nn.Module.compile

    def compile_(self, *args, **kwargs):
        compiled.append(type(self).__name__)
        plain(self, backend="aot_eager", fullgraph=True)

    monkeypatch.setattr(torch.nn.Module, "compile", compile_)
    r = _distill_recipe(tmp_path, small_world[0], random_teacher, "perflow_tiny")
    train(r, tmp_path / "eager")
    train(r, tmp_path / "compiled", compile=True)
    assert compiled == ["UNet2DConditionModel", "ReferenceNet", "UNet2DConditionModel"]
    eager, comp = ([json.loads(x)["loss"] for x in (tmp_path / d / "log.jsonl").read_text().splitlines()]
                   for d in ("eager", "compiled"))
    assert len(comp) == 2 and np.allclose(eager, comp, rtol=1e-5, atol=1e-7), (eager, comp)
