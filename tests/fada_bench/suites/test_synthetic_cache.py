"""The synthetic suite renders only the clips a run asks for, byte for byte the clips a full render
of the world gives, and keeps the clips already in its cache."""
import dataclasses

import pytest

import fada.data.synthetic.build as build
from fada.errors import InputError
from fada_bench.suites import make_suite
from harness_util import TINY_WORLD, bench_env, write_tiny_split

# Small enough to render in a few seconds: four test clips of 0.4 s.
WORLD = dataclasses.replace(TINY_WORLD, seconds=0.4)


@pytest.fixture
def suite(tmp_path, monkeypatch):
    env = bench_env(tmp_path)
    write_tiny_split(tmp_path / "splits", WORLD)        # replaces bench_env's split with the shorter world
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return make_suite("synthetic")


def rendered(folder):
    return sorted(p.stem for p in (folder / "videos").glob("*.mp4"))


def test_only_the_requested_clips_are_rendered(suite):
    ids = suite.ids()
    suite.prepare([ids[2]])
    assert rendered(suite.folder) == [ids[2]]          # not the prefix 0..2
    suite.prepare(ids[:2])
    assert rendered(suite.folder) == sorted([ids[0], ids[1], ids[2]])
    assert suite.sample(ids[2]).n_frames == round(WORLD.seconds * WORLD.fps)


def test_a_clip_rendered_alone_is_the_clip_of_a_full_render(suite, tmp_path):
    ids = suite.ids()
    suite.prepare([ids[3]])
    full = tmp_path / "full"
    build.build_world(full, suite.config, workers=1)
    for sub, ext in (("videos", "mp4"), ("params", "npz")):
        alone = (suite.folder / sub / f"{ids[3]}.{ext}").read_bytes()
        assert alone == (full / sub / f"{ids[3]}.{ext}").read_bytes(), sub


def test_cached_clips_are_not_rendered_again(suite, monkeypatch):
    ids = suite.ids()
    suite.prepare(ids[:2])
    made = []
    real = build.make_clip
    monkeypatch.setattr(build, "make_clip", lambda *a, **k: made.append(1) or real(*a, **k))
    suite.prepare(ids[:3])
    assert len(made) == 1                              # only the third clip is new
    (suite.folder / "params" / f"{ids[0]}.npz").write_bytes(b"damaged")
    suite.prepare(ids[:3])
    assert len(made) == 2                              # a damaged clip is made again


def test_a_name_outside_the_world_is_an_input_error(suite):
    with pytest.raises(InputError, match="not clips of this synthetic world"):
        build.build_clips(suite.folder, suite.config, ["syn-test-99999"])
