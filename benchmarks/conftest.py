"""Speed benchmarks (pytest-benchmark), kept out of the default test run:

    python -m pytest benchmarks/ --benchmark-enable

They record numbers in pytest-benchmark's table (and `--benchmark-json FILE`); none asserts a time."""
import pytest

from fada.data.synthetic.build import WorldConfig, build_world


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """8 train clips at 64 px, 2 s each: what one training step reads."""
    out = tmp_path_factory.mktemp("small_world")
    cfg = WorldConfig(n_train=8, n_test=0, n_openset=0, size=64, seed=3)
    return out, cfg, build_world(out, cfg)
