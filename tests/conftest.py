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
