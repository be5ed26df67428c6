"""`fada-bench weights list|verify|fetch`: every backbone and checkpoint with its status, sha256
checks that catch a corrupt file, and a fetch from a server on 127.0.0.1 that the test starts."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from fada_bench import weight_files
from fada_bench.cli import app
from fada_bench.metrics import synthetic_backbones as sb
from fada_bench.metrics import weights_registry as wr
from test_backbones_registry import PAYLOAD, SHA, _Server


def invoke(*args):
    return CliRunner().invoke(app, ["weights", *args], terminal_width=200)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty standard-weights folders, a copy of the synthetic backbones, an empty checkpoints folder."""
    monkeypatch.setenv(wr.ENV_VAR, str(tmp_path / "weights"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    syn = tmp_path / "synthetic"
    shutil.copytree(sb.WEIGHTS_DIR, syn)
    monkeypatch.setattr(sb, "WEIGHTS_DIR", syn)
    monkeypatch.setattr(sb, "REGISTRY_FILE", syn / sb.REGISTRY_FILE.name)
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    monkeypatch.setattr(weight_files, "SHIPPED_MODELS", tmp_path / "models.json")
    return tmp_path


def test_list_names_every_file_of_every_kind(isolated):
    res = invoke("list")
    assert res.exit_code == 0, res.output
    rows = {(r.kind, r.name): r for r in weight_files.all_status()}
    for name in wr.ENTRIES:
        assert rows[("standard", name)].state == "missing" and name in res.output
    for name in sb.registry():
        assert rows[("synthetic", name)].state == "present" and rows[("synthetic", name)].verified
    assert rows[("model", "teacher_tiny/model")].state == "missing"
    assert "fada-bench train teacher_tiny" in rows[("model", "teacher_tiny/model")].detail


def test_verify_passes_then_fails_on_a_corrupt_synthetic_backbone(isolated):
    assert invoke("verify").exit_code == 0
    path = sb.WEIGHTS_DIR / sb.registry()["iqa"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    res = invoke("verify")
    assert res.exit_code == 1 and "iqa (bad checksum)" in res.output


def test_verify_of_a_named_missing_file_fails(isolated):
    res = invoke("verify", "fid_inception")
    assert res.exit_code == 1 and "fid_inception (missing)" in res.output


def test_a_checkpoint_is_checked_against_the_shipped_sha256(isolated):
    ckpt = isolated / "runs" / "teacher_tiny" / "model"
    (ckpt / "denoiser").mkdir(parents=True)
    (ckpt / "fada.json").write_text("{}")
    (ckpt / "denoiser" / "w.safetensors").write_bytes(b"weights")
    files = {"fada.json": hashlib.sha256(b"{}").hexdigest(),
             "denoiser/w.safetensors": hashlib.sha256(b"weights").hexdigest()}
    weight_files.SHIPPED_MODELS.write_text(json.dumps({"teacher_tiny/model": files}))
    status = {r.name: r for r in weight_files.all_status(("model",))}
    assert status["teacher_tiny/model"].state == "present" and status["teacher_tiny/model"].verified
    (ckpt / "denoiser" / "w.safetensors").write_bytes(b"other")
    res = invoke("verify", "teacher_tiny/model")
    assert res.exit_code == 1 and "bad checksum" in res.output


def test_fetch_downloads_from_a_local_server_and_checks_the_hash(isolated, monkeypatch):
    e = wr.WeightEntry(name="test_file", filename="test.bin", backbone="test", url=None,
                       sha256=SHA, sha256_prefix=None, how_to_get="the test")
    monkeypatch.setitem(wr.ENTRIES, e.name, e)
    server = _Server(PAYLOAD)
    try:
        res = invoke("fetch", "test_file", "--url", server.url, "--dest", str(isolated / "dl"))
    finally:
        server.close()
    assert res.exit_code == 0, res.output
    assert (isolated / "dl" / "test.bin").read_bytes() == PAYLOAD
    assert {r.name: r for r in weight_files.all_status(("standard",))}["test_file"].state == "missing"  # not in dl
    monkeypatch.setenv(wr.ENV_VAR, str(isolated / "dl"))
    assert invoke("verify", "test_file").exit_code == 0
