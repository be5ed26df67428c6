"""The shipped synthetic backbones: verified by sha256, small, packaged, and a missing or corrupt
file is one clear error that says how to rebuild it."""
import fnmatch
import json
import shutil
from pathlib import Path

import pytest

from fada.hashing import sha256_file
from fada_bench.metrics.backbones import synthetic as sb
from fada_bench.registry import list_metrics
from fada_bench.train_synthetic_backbones import train
from fada_bench.weight_files import synthetic as synthetic_weights
from fada_bench.weight_files.standard import WeightsError

NETWORKS = ("inverse_renderer", "video_features", "syncnet", "iqa")
REPO = Path(__file__).resolve().parents[3]


def test_every_backbone_is_registered_with_a_matching_sha256_and_loads():
    reg = synthetic_weights.registry()
    assert sorted(reg) == sorted(NETWORKS)
    for name in NETWORKS:
        path = synthetic_weights.WEIGHTS_DIR / reg[name]["file"]
        assert path.suffix == ".safetensors"
        assert sha256_file(path) == reg[name]["sha256"]
        assert sb.load_network(name).training is False
        assert reg[name]["held_out"], f"{name}: no held-out accuracy recorded"


def test_all_weights_together_stay_under_20_mb():
    total = sum((synthetic_weights.WEIGHTS_DIR / e["file"]).stat().st_size for e in synthetic_weights.registry().values())
    assert total <= 20e6, total


def test_the_package_data_patterns_ship_the_weights_and_registry():
    try:
        import tomllib
    except ImportError:          # Python 3.10
        tomllib = pytest.importorskip("tomli")
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["fada_bench"]
    pkg = REPO / "fada_bench"
    files = [p.relative_to(pkg).as_posix() for p in synthetic_weights.WEIGHTS_DIR.iterdir()]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), (files, patterns)


def test_a_missing_file_names_itself_where_it_looked_and_the_rebuild_command(tmp_path):
    shutil.copy(synthetic_weights.REGISTRY_FILE, tmp_path / "registry.json")
    with pytest.raises(WeightsError) as e:
        sb.load_network("syncnet", tmp_path)
    msg = str(e.value)
    assert "syncnet.safetensors" in msg and str(tmp_path) in msg
    assert "fada-bench weights train-synthetic --only syncnet" in msg


def test_a_corrupt_file_is_refused_before_loading(tmp_path):
    shutil.copy(synthetic_weights.REGISTRY_FILE, tmp_path / "registry.json")
    data = bytearray((synthetic_weights.WEIGHTS_DIR / "iqa.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "iqa.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or stale.*--only iqa"):
        sb.load_network("iqa", tmp_path)


def test_a_missing_registry_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="registry.json is missing.*train-synthetic"):
        sb.load_network("iqa", tmp_path)


def test_synthetic_metrics_are_listed_available_for_the_synthetic_world_only():
    syn = {k: ok for k, _, ok, _ in list_metrics("synthetic") if k.endswith("[synthetic]")}
    want = {"sync_d", "sync_c", "sync_offset", "fid", "fvd", "efid", "iqa", "csim", "lmd", "mlmd", "expr_err", "id_drift"}
    assert {k.split("[")[0] for k in syn} == want and all(syn.values())
    real = {k: (ok, why) for k, _, ok, why in list_metrics("real") if k.endswith("[synthetic]")}
    assert all(not ok and "synthetic world only" in why for ok, why in real.values())


def test_a_recipe_runs_end_to_end_and_ships_a_verifiable_file(tmp_path):
    # A scaled-down IQA recipe: renders, trains, evaluates on held-out identities, ships.
    res = train(["iqa"], scale=0.01, work=tmp_path / "work", out=tmp_path / "out", threads=1)
    reg = json.loads((tmp_path / "out" / "registry.json").read_text())
    assert reg["iqa"]["sha256"] == sha256_file(tmp_path / "out" / "iqa.safetensors")
    assert reg["iqa"]["held_out"] == res["iqa"] and "spearman" in res["iqa"]
    sb.load_network("iqa", tmp_path / "out")
    # reproducible from the seed: a fresh run (new work folder) gives the same bytes
    train(["iqa"], scale=0.01, work=tmp_path / "work2", out=tmp_path / "out2", threads=1)
    assert sha256_file(tmp_path / "out2" / "iqa.safetensors") == reg["iqa"]["sha256"]
