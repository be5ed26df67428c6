"""Fixtures of the metric tests that score videos of the synthetic suite."""
import pytest
from harness_util import synthetic_suite_clips


@pytest.fixture(scope="module")
def suite(request, tmp_path_factory):
    """The first N_CLIPS (the test module's constant) clips of the synthetic test suite, built as
    the suite builds them."""
    return synthetic_suite_clips(tmp_path_factory.mktemp("suite"), request.module.N_CLIPS)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder for the videos a test module writes."""
    return tmp_path_factory.mktemp("videos")
