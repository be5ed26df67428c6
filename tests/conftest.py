import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` run only where torch sees a CUDA device (benchmarks/gpu_run.sh runs them)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is false)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_xdist_worker():
    """Under pytest-xdist (`-n 2`) each worker is one of the machine's cores: torch, numpy's BLAS
    and the subprocesses a test starts use one thread, so two workers do not fight over both
    cores. numpy's OpenBLAS read its thread count when numpy was imported, hence threadpoolctl:
    with two BLAS threads in each of two processes, a 300 x 256 Fréchet distance took twice as long
    as with one (2-core AMD EPYC, 2026-12-04)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    old = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    os.environ.update({k: "1" for k in old})
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)
    for k, v in old.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A small synthetic folder: 8 train, 4 test, 2 open-set clips at 64 px, 2 s each."""
    from fada.data.synthetic.build import WorldConfig, build_world

    out = tmp_path_factory.mktemp("small_world")
    cfg = WorldConfig(n_train=8, n_test=4, n_openset=2, size=64, seed=3)
    rows = build_world(out, cfg)
    return out, cfg, rows


@pytest.fixture(scope="session")
def world_200(tmp_path_factory):
    """200 training clips at 128 px: the set on which the filters are scored."""
    from fada.data.synthetic.build import WorldConfig, build_world

    out = tmp_path_factory.mktemp("world_200")
    cfg = WorldConfig(n_train=200, n_test=0, n_openset=0, size=128, seed=0)
    rows = build_world(out, cfg)
    return out, cfg, rows


@pytest.fixture
def empty_weight_dirs(tmp_path, monkeypatch):
    """An empty $FADA_BENCH_WEIGHTS and an empty home, so no real weight file is ever found."""
    from fada_bench.weight_files import standard as wr

    env, home = tmp_path / "weights", tmp_path / "home"
    env.mkdir(), home.mkdir()
    monkeypatch.setenv(wr.ENV_VAR, str(env))
    monkeypatch.setenv("HOME", str(home))
    return env, home


def nudged_tiny_models(seed: int, scale: float):
    """Random tiny models whose zero-initialised denoiser layers are nudged by N(0, scale²) noise,
    so every branch and path matters (a fresh model's zero layers hide them)."""
    import torch

    from fada.models.bundle import build_models

    m = build_models("tiny", seed=seed)
    with torch.no_grad():
        for p in m.denoiser.parameters():
            p.add_(torch.randn_like(p) * scale)
    return m


@pytest.fixture(scope="module")
def random_teacher(tmp_path_factory):
    """A random tiny teacher (nudged, so CFG branches differ) saved as a model folder."""
    path = tmp_path_factory.mktemp("teacher") / "model"
    nudged_tiny_models(seed=5, scale=0.01).save(path)
    return path


@pytest.fixture(scope="module")
def nudged_teacher():
    """Random tiny models (seed 1, nudged by 0.02) for tests of the generator's paths."""
    return nudged_tiny_models(seed=1, scale=0.02)


@pytest.fixture
def fada_bench(monkeypatch, capsys):
    """`fada-bench ARGS` in this process, as the installed command runs it (its `main`): (exit code, stderr)."""
    import subprocess
    import sys

    from fada_bench.cli import main

    def call(args):
        monkeypatch.setattr(sys, "argv", ["fada-bench", *args])
        with pytest.raises(SystemExit) as e:
            main()
        return subprocess.CompletedProcess(args, e.value.code, "", capsys.readouterr().err)
    return call
