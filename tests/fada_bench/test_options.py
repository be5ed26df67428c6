"""Options are checked before any work starts, through the command line: an unknown device, dtype,
model config, sweep, method, suite or metric exits 2 with one line (no traceback) that lists the
valid values and the closest one, and nothing is rendered, trained or written."""
from __future__ import annotations

from pathlib import Path


import pytest

from fada_bench.options import OptionError, check_choice, check_name

from harness_util import bench_env, cli


@pytest.fixture
def env(tmp_path, monkeypatch):
    e = bench_env(tmp_path / "bench")
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    return e


def _refused(res, *words):
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


CASES = [
    (["run", "--methods", "teacher", "--device", "tpu"], ["--device 'tpu'", "valid: cpu, cuda, cuda:N"]),
    (["run", "--methods", "teacher", "--dtype", "bf17"], ["--dtype 'bf17'", "did you mean 'bf16'", "fp32, bf16, fp16"]),
    (["run", "--methods", "teachr"], ["method 'teachr'", "did you mean 'teacher'", "fada_fast"]),
    (["run", "--methods", "teacher", "--suite", "synthtic"], ["suite 'synthtic'", "did you mean 'synthetic'", "hdtf"]),
    (["run", "--methods", "static", "--metrics", "syncd"], ["metric 'syncd'", "did you mean 'sync_d'", "fvd"]),
    (["run", "--methods", "static", "--limit", "0"], ["--limit must be at least 1"]),
    (["run", "--methods", "static", "--method-folder", "hallo=/tmp"], ["'hallo' is not one of --methods"]),
    (["sweep", "cfg", "--device", "tpu"], ["--device 'tpu'", "valid: cpu"]),
    (["sweep", "cfg", "--dtype", "half"], ["--dtype 'half'", "fp32, bf16, fp16"]),
    (["sweep", "tabel2"], ["sweep 'tabel2'", "did you mean 'table2'", "cfg, table1"]),
    (["sweep", "cfg", "--method", "static"], ["sweep cfg needs a FADA method"]),
    (["sweep", "table2", "--suite", "hdtff"], ["suite 'hdtff'", "did you mean 'hdtf'"]),
    (["speed", "--config", "huge"], ["--config 'huge'", "valid: sd15, tiny"]),
    (["speed", "--device", "tpu"], ["--device 'tpu'"]),
    (["speed", "--methods", "teacher", "--resolution", "40"], ["multiple of 16"]),
    (["speed", "--methods", "static"], ["speed measures FADA generators"]),
]


@pytest.mark.parametrize("args,words", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_option_is_one_line_listing_the_valid_values_and_nothing_is_done(env, fada_bench, tmp_path, args, words):
    out = tmp_path / "out"
    args = [*args, "--out", str(out / ("x.csv" if args[0] == "speed" else "run"))]
    res = fada_bench(args)
    _refused(res, *words)
    assert not out.exists()                                      # nothing written
    assert not Path(env["FADA_BENCH_CACHE"]).exists()            # no world rendered


def test_cuda_without_a_gpu_is_refused_before_any_work(env, fada_bench, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for cmd in (["run", "--methods", "teacher"], ["sweep", "cfg"], ["speed"]):
        out = tmp_path / cmd[0]
        res = fada_bench([*cmd, "--device", "cuda", "--out", str(out)])
        _refused(res, "--device cuda", "no CUDA device")
        assert not out.exists()


def test_the_installed_command_prints_one_line_without_a_traceback(env, tmp_path):
    # The same path as above, in a process of its own (`python -m fada_bench` runs `main`).
    res = cli(["speed", "--config", "huge", "--out", str(tmp_path / "x.csv")], env)
    _refused(res, "--config 'huge'", "valid: sd15, tiny")
    assert not (tmp_path / "x.csv").exists()


def test_check_choice_names_the_closest_and_every_valid_value():
    with pytest.raises(OptionError) as e:
        check_choice("sampler", "perflw", ("ddim", "perflow", "tcd"), where="x.yaml")
    assert str(e.value) == "x.yaml: sampler 'perflw' is not valid (did you mean 'perflow'?); valid: ddim, perflow, tcd"
    with pytest.raises(OptionError, match=r"^sampler 'zzz' is not valid; valid: ddim$"):
        check_choice("sampler", "zzz", ("ddim",))
    assert check_choice("sampler", "tcd", ("ddim", "tcd")) == "tcd"


@pytest.mark.parametrize("bad", ["", " ", ".", "..", "/etc/passwd", "../../x", "a/b", "a\\b", "..\\x", "C:x", "a\x00b"])
def test_a_name_that_is_a_path_is_refused_naming_it_and_its_file(bad):
    with pytest.raises(OptionError) as e:
        check_name("sample id", bad, "splits/s.json")
    assert str(e.value).startswith(f"splits/s.json: sample id {bad!r} cannot be a file name: it ")


@pytest.mark.parametrize("good", ["clip_0001", "a..b", "fada_fast_a6.5_r2", "id-with.dots"])
def test_plain_names_pass(good):
    assert check_name("sample id", good, "x") == good
