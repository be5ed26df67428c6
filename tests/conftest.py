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
    """Under pytest-xdist (`-n 2`) each worker is one of the machine's cores: torch and the
    subprocesses a test starts use one thread, so two workers do not fight over both cores."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    old = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: "1" for k in old})
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
