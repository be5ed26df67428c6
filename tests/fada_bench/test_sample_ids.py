"""Sample ids and method names are names, never paths: an id in a split file, a manifest or given to
a precomputed folder that is absolute, empty, or holds a separator or `..` is refused with an error
naming it and its file, and nothing is written outside the run folder (checked on the filesystem)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fada_bench.options import OptionError

from harness_util import bench_env

HOSTILE = ["../../../../escaped", "/tmp/h19b-absolute-escape", "", "a/b", ".."]


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_id_in_a_split_file_is_refused_and_nothing_is_written(tmp_path, monkeypatch, fada_bench, bad):
    env = bench_env(tmp_path / "bench")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    split = tmp_path / "bench" / "splits" / "synthetic.json"
    data = json.loads(split.read_text())
    data["ids"] = [data["ids"][0], bad]
    split.write_text(json.dumps(data))
    before = _files(tmp_path)
    res = fada_bench(["run", "--methods", "static", "--suite", "synthetic", "--metrics", "none",
                      "--out", str(tmp_path / "work" / "run")])
    assert res.returncode == 2, res.stderr
    assert f"sample id {bad!r}" in res.stderr and str(split) in res.stderr.replace("\n", "")
    assert _files(tmp_path) == before                       # no run folder, no rendered world, nothing else
    assert not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("bad", ["../../escaped", "/tmp/h19b-absolute-escape", "x/../../y"])
def test_hostile_id_in_a_manifest_is_refused_naming_the_manifest(tmp_path, monkeypatch, fada_bench, bad):
    data = tmp_path / "hdtf"
    data.mkdir()
    pd.DataFrame({"id": ["clip_ok", bad], "video": ["a.mp4", "b.mp4"], "n_frames": [10, 10],
                  "fps": [25.0, 25.0]}).to_parquet(data / "manifest.parquet")
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "hdtf.json").write_text(json.dumps({"ids": ["clip_ok"]}))
    monkeypatch.setenv("FADA_BENCH_SPLITS", str(splits))
    before = _files(tmp_path)
    res = fada_bench(["run", "--methods", "static", "--suite", "hdtf", "--data", str(data), "--metrics", "none",
                      "--out", str(tmp_path / "run")])
    assert res.returncode == 2, res.stderr
    assert f"sample id {bad!r}" in res.stderr and str(data / "manifest.parquet") in res.stderr.replace("\n", "")
    assert _files(tmp_path) == before


@pytest.mark.parametrize("bad", ["../outside", "/tmp/h19b-absolute-escape"])
def test_a_precomputed_folder_is_read_by_plain_names_only(tmp_path, bad):
    from fada_bench.adapters import RunContext, make_adapter
    from fada_bench.registry import METHODS
    from fada_bench.types import Sample

    folder = tmp_path / "videos"
    folder.mkdir()
    adapter = make_adapter(METHODS.get("hallo"), RunContext(method_folders={"hallo": folder}))
    sample = Sample(id=bad, reference=np.zeros((8, 8, 3), np.uint8), audio=np.zeros(640, np.float32), n_frames=1)
    with pytest.raises(OptionError, match=f"{folder}: sample id {bad!r} cannot be a file name"):
        adapter.generate(sample, 0)


@pytest.mark.parametrize("method,sample", [("../m", "s"), ("m", "../../s"), ("/abs", "s"), ("m", "/abs"),
                                           ("m", ""), ("..", "s"), ("m", "a\\..\\..\\b")])
def test_the_run_store_refuses_to_write_outside_its_folder(tmp_path, method, sample):
    from fada.data.io import Video
    from fada_bench.store import RunStore

    root = tmp_path / "deep" / "run"
    store = RunStore(root)
    store.check_writable()
    with pytest.raises(OptionError):
        store.write_record({"method": method, "sample": sample, "scored": {}})
    with pytest.raises(OptionError):
        store.write_video(method, sample, Video(np.zeros((2, 16, 16, 3), np.uint8), 25.0, np.zeros(1280, np.float32)))
    with pytest.raises(OptionError, match="outside the run folder"):
        store.write_json("../escaped.json", {})
    assert _files(tmp_path) == ["deep", "deep/run"]          # nothing written anywhere


def test_a_method_card_whose_name_is_a_path_is_refused(tmp_path):
    from fada_bench.cards import parse_card

    card = tmp_path / "..yaml"            # its stem, ".", would be the run's own folder
    card.write_text("adapter: static\n")
    with pytest.raises(OptionError, match=r"method name '\.' cannot be a file name: it is a reference to a folder"):
        parse_card(card, [tmp_path])
    alias = tmp_path / "ok.yaml"
    alias.write_text("adapter: static\naliases: ['../evil']\n")
    with pytest.raises(OptionError, match=r"method alias '\.\./evil' cannot be a file name: it holds a path separator"):
        parse_card(alias, [tmp_path])
