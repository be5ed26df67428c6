"""`fada-bench weights list|verify|fetch`: every backbone and checkpoint with its status, sha256
checks that catch a corrupt file, and a fetch from a server on 127.0.0.1 that the test starts."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from fada_bench import weight_files
from fada_bench.weight_files import shipped
from fada.errors import InputError
from fada_bench.cli import app
from fada_bench.weight_files import synthetic as sb
from fada_bench.weight_files import standard as wr
from local_server import PAYLOAD, SHA, LocalServer


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
    monkeypatch.setattr(shipped, "MANIFEST", tmp_path / "shipped" / "models.json")
    monkeypatch.setattr(shipped, "BLOBS", tmp_path / "shipped" / "models")
    monkeypatch.setenv("FADA_BENCH_CACHE", str(tmp_path / "cache"))
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


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """A tiny teacher and a student that shares all but its denoiser (as distillation leaves it)."""
    import torch
    from fada.models.bundle import build_models

    root = tmp_path_factory.mktemp("models")
    teacher = build_models("tiny", seed=0)
    teacher.save(root / "teacher")
    with torch.no_grad():
        for p in teacher.denoiser.parameters():
            p.add_(0.01)
    teacher.save(root / "student")
    return root / "teacher", root / "student"


def test_pack_stores_float16_once_and_a_card_runs_the_shipped_checkpoint(isolated, two_models):
    import torch
    from safetensors.torch import load_file

    from fada.models.bundle import load_models
    from fada_bench.adapters.fada_pipeline import checkpoint_path
    from fada_bench.registry import METHODS

    teacher, student = two_models
    man = shipped.pack({"teacher_tiny/model": teacher, "fada_balanced_tiny/model": student})
    t, s = man["teacher_tiny/model"], man["fada_balanced_tiny/model"]
    assert set(t) == set(s) and "fada.json" in t
    shared = {f for f in t if t[f] == s[f]}
    assert shared == set(t) - {"denoiser/diffusion_pytorch_model.safetensors"}   # stored once
    assert len(list(shipped.BLOBS.iterdir())) == len(t) + 1
    fp32 = sum(p.stat().st_size for p in teacher.rglob("*.safetensors")) + \
        (student / "denoiser" / "diffusion_pytorch_model.safetensors").stat().st_size
    assert 0.49 * fp32 < shipped.shipped_bytes() < 0.51 * fp32 + 20_000    # half the bytes, configs aside

    folder = checkpoint_path(METHODS.get("teacher"))           # nothing trained here: the shipped one
    assert folder.is_relative_to(isolated / "cache")
    w = load_file(folder / "denoiser" / "diffusion_pytorch_model.safetensors")
    ref = load_file(teacher / "denoiser" / "diffusion_pytorch_model.safetensors")
    assert all(v.dtype == torch.float16 for v in w.values() if v.is_floating_point())
    assert all(torch.allclose(w[k].float(), ref[k], rtol=1e-3, atol=1e-4) for k in ref)
    load_models(folder)                                         # a model folder the generator loads
    status = {r.name: r for r in weight_files.all_status(("model",))}
    assert status["teacher_tiny/model"].verified and "shipped" in status["teacher_tiny/model"].detail
    assert status["fada_fast_tiny/model"].state == "missing"

    # A changed file in the assembled folder is noticed and assembled again from the store.
    (folder / "fada.json").write_text("{}")
    assert json.loads((checkpoint_path(METHODS.get("teacher")) / "fada.json").read_text())["config"] == "tiny"

    # A corrupt stored file fails with a reason, in the listing and on use.
    blob = shipped.BLOBS / s["denoiser/diffusion_pytorch_model.safetensors"]
    blob.write_bytes(blob.read_bytes()[:-8] + b"corrupt!")
    res = invoke("verify", "fada_balanced_tiny/model")
    assert res.exit_code == 1 and "bad checksum" in res.output
    with pytest.raises(InputError, match="missing or corrupt"):
        checkpoint_path(METHODS.get("fada_balanced"))

    # A checkpoint trained here is used before the shipped one.
    shutil.copytree(teacher, isolated / "runs" / "teacher_tiny" / "model")
    assert checkpoint_path(METHODS.get("teacher")) == isolated / "runs" / "teacher_tiny" / "model"
    assert "trained here" in {r.name: r for r in weight_files.all_status(("model",))}["teacher_tiny/model"].detail


def test_fetch_downloads_from_a_local_server_and_checks_the_hash(isolated, monkeypatch):
    e = wr.WeightEntry(name="test_file", filename="test.bin", backbone="test", url=None,
                       sha256=SHA, sha256_prefix=None, how_to_get="the test")
    monkeypatch.setitem(wr.ENTRIES, e.name, e)
    server = LocalServer(PAYLOAD)
    try:
        res = invoke("fetch", "test_file", "--url", server.url, "--dest", str(isolated / "dl"))
    finally:
        server.close()
    assert res.exit_code == 0, res.output
    assert (isolated / "dl" / "test.bin").read_bytes() == PAYLOAD
    assert {r.name: r for r in weight_files.all_status(("standard",))}["test_file"].state == "missing"  # not in dl
    monkeypatch.setenv(wr.ENV_VAR, str(isolated / "dl"))
    assert invoke("verify", "test_file").exit_code == 0


def _assemble_many_times(manifest: str, blobs: str, cache: str, n: int, barrier) -> None:
    import os
    from pathlib import Path

    from fada_bench.weight_files import shipped as sp

    sp.MANIFEST, sp.BLOBS = Path(manifest), Path(blobs)
    files = sp.manifest()["teacher_tiny/model"]
    for i in range(n):
        os.environ["FADA_BENCH_CACHE"] = f"{cache}/{i}"     # a fresh cache each round, both processes at once
        barrier.wait(60)
        folder = sp.model_folder("teacher_tiny/model")
        assert not sp._matches(folder, files)                # whole and matching, whoever assembled it


def test_processes_assembling_one_checkpoint_at_once_both_get_a_whole_folder(isolated, tmp_path):
    # Under torchrun every process resolves the card's checkpoint at the same moment.
    import multiprocessing

    folder = tmp_path / "small"
    (folder / "denoiser").mkdir(parents=True)
    (folder / "fada.json").write_text('{"config": "tiny"}')
    for i in range(40):
        (folder / "denoiser" / f"part{i}.json").write_text(str(i) * 200_000)
    shipped.pack({"teacher_tiny/model": folder})
    ctx = multiprocessing.get_context("spawn")
    args = (str(shipped.MANIFEST), str(shipped.BLOBS), str(isolated / "cache"), 15, ctx.Barrier(2))
    procs = [ctx.Process(target=_assemble_many_times, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
