"""The fast decoder (fada.models.fast_decoder): its geometry and FLOPs, the objective's target is
the VAE decoder's output, the trainer trains and saves one, and the pipeline's `decoder` switch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fada.errors import InputError
from fada.models.bundle import build_models, decode_latents, load_models
from fada.models.fast_decoder import FastDecoder, build_fast_decoder
from fada.train.recipe import RECIPES_DIR, load_recipe


@pytest.fixture(scope="module")
def tiny():
    return build_models("tiny", seed=2)


def test_geometry_of_each_config_and_fewer_flops_than_the_vae_decoder(tiny):
    from fada_bench.speed import count_flops

    fast = build_fast_decoder("tiny", tiny.vae)
    z = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        assert fast(z).shape == (2, 3, 64, 64)
        vae_flops = count_flops(lambda: decode_latents(tiny.vae, z))
        fast_flops = count_flops(lambda: decode_latents(fast, z))
    # the point of it: a small fraction of the VAE decoder's work (about a sixth at the tiny config)
    assert fast_flops < 0.25 * vae_flops, (fast_flops, vae_flops)
    sd15 = build_fast_decoder("sd15")
    assert sd15.upscale == 8 and sd15.config.latent_channels == 4 and sd15.config.vae_digest == ""
    with torch.no_grad():                     # any latent size: 8 x 8 -> 64 x 64 (512 px from 64 x 64)
        assert sd15(torch.randn(1, 4, 8, 8)).shape == (1, 3, 64, 64)


def test_saved_with_the_models_and_loaded_back_equal(tiny, tmp_path):
    import copy

    m = copy.deepcopy(tiny)
    m.fast_decoder = build_fast_decoder("tiny", m.vae, seed=5)
    m.save(tmp_path / "model")
    back = load_models(tmp_path / "model")
    assert isinstance(back.fast_decoder, FastDecoder)
    assert back.fast_decoder.config.vae_digest == m.fast_decoder.config.vae_digest != ""
    z = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        assert torch.equal(back.fast_decoder(z), m.fast_decoder(z))
    tiny.save(tmp_path / "plain")                 # a folder without one loads without one
    assert load_models(tmp_path / "plain").fast_decoder is None


def _recipe(tmp_path, vae_folder, data_folder="unused", **over):
    base = {"include": str(RECIPES_DIR / "fast_decoder_tiny.yaml"), "vae": str(vae_folder), "steps": 4,
            "checkpoint_every": 2, "log_every": 1, "data": {"folder": str(data_folder), "n_frames": 2,
                                                            "windows_per_clip": 2},
            "optim": {"batch_size": 2, "warmup_steps": 1}}
    base.update(over)
    p = tmp_path / "fd.yaml"
    p.write_text(yaml.safe_dump(base))
    return load_recipe(p)


def test_objective_target_is_the_vae_decoders_output(tiny, tmp_path):
    # A student that *is* the VAE decoder (on the scaled latents, clamped as the pipeline clamps)
    # has zero loss; a random one does not. So the target is the VAE decoder's output on the same
    # latent the student sees, and the latent's scale is the one the denoiser produces.
    from fada.train.objectives import make_objective
    from fada.train.trainer import sample_generator

    tiny.save(tmp_path / "teacher")
    obj = make_objective(_recipe(tmp_path, tmp_path / "teacher"))
    vae = obj.models.vae

    class VaeAsStudent(torch.nn.Module):
        def forward(self, z):
            return vae.decode(z / vae.config.scaling_factor).sample.clamp(-1, 1)

    x = torch.rand(2, 2, 3, 64, 64) * 2 - 1
    gens = lambda: [sample_generator(0, 0, j) for j in range(2)]      # noqa: E731
    with torch.no_grad():
        random_loss, _ = obj.loss({"target": x}, gens())
        obj.models.fast_decoder = VaeAsStudent()
        exact_loss, _ = obj.loss({"target": x}, gens())
    assert exact_loss.shape == (2,) and float(exact_loss.abs().max()) < 1e-6
    assert float(random_loss.min()) > 1e-3
    with pytest.raises(InputError, match="needs `vae:`"):      # refused when read, before any model loads
        _recipe(tmp_path, tmp_path / "teacher", vae=None)


def test_trainer_trains_and_saves_a_fast_decoder(small_world, tiny, tmp_path):
    from fada.train.trainer import train

    tiny.save(tmp_path / "teacher")
    final = train(_recipe(tmp_path, tmp_path / "teacher", small_world[0]), tmp_path / "run")
    m = load_models(final)
    assert isinstance(m.fast_decoder, FastDecoder)
    from fada.train.latents import vae_digest

    assert m.fast_decoder.config.vae_digest == vae_digest(m.vae)


# ---------------------------------------------------------------------------- the pipeline's switch

def _generate(models, **kw):
    from fada.pipeline import FadaPipeline

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal(16 * 1280) * 0.1).astype(np.float32)
    return FadaPipeline(models, **kw)(ref, audio, 20, seed=3, sampler="ddim", steps=2, guidance="multi")


def test_fast_decoder_switch_decodes_with_it_and_refuses_a_mismatch(tiny):
    import copy

    m = copy.deepcopy(tiny)
    with pytest.raises(InputError, match="fast decoder attached"):
        _generate(m, decoder="fast")
    with pytest.raises(InputError, match="unknown decoder 'taesd'"):
        _generate(m, decoder="taesd")
    other = build_models("tiny", seed=9)
    m.fast_decoder = build_fast_decoder("tiny", other.vae)        # distilled from another VAE
    with pytest.raises(InputError, match="another VAE"):
        _generate(m, decoder="fast")
    m.fast_decoder = build_fast_decoder("tiny", m.vae)
    vae_out, fast_out = _generate(m), _generate(m, decoder="fast")
    assert fast_out.video.frames.shape == vae_out.video.frames.shape and fast_out.nfe_total == vae_out.nfe_total
    assert np.abs(fast_out.video.frames.astype(int) - vae_out.video.frames.astype(int)).max() > 10
    # the overlapped decode keeps the fast decoder's frames too
    over = _generate(m, decoder="fast", overlap_decode=True)
    assert np.abs(over.video.frames.astype(int) - fast_out.video.frames.astype(int)).max() <= 1


def test_speed_row_names_the_decoder_and_counts_its_flops():
    from fada_bench.speed import SpeedConfig, run_speed

    (vae,) = run_speed(SpeedConfig(methods=["fada_fast"], frames=16, repeats=1))
    (fast,) = run_speed(SpeedConfig(methods=["fada_fast"], frames=16, repeats=1, fast={"decoder": "fast"}))
    assert (vae["decoder"], fast["decoder"]) == ("vae", "fast")
    assert fast["vae_decode_gflop"] < 0.25 * vae["vae_decode_gflop"]
    assert fast["denoise_gflop"] == pytest.approx(vae["denoise_gflop"])
    with pytest.raises(InputError, match="--decoder 'tiny' is not valid; valid: vae, fast"):
        SpeedConfig(methods=["fada_fast"], fast={"decoder": "tiny"})     # refused when made, before any model


def test_shipped_on_its_own_and_found_by_the_run(tiny, tmp_path, monkeypatch):
    # Stored as float16 beside the other shipped checkpoints (which stay as they were), assembled
    # and verified on first use, and what `fada-bench run --decoder fast` loads for the tiny config.
    import copy
    import json

    from fada_bench.weight_files import shipped
    from fada_bench.adapters.fada_pipeline import load_fast_decoder

    monkeypatch.setattr(shipped, "BLOBS", tmp_path / "store" / "models")
    monkeypatch.setattr(shipped, "MANIFEST", tmp_path / "store" / "models.json")
    monkeypatch.setenv("FADA_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "no-checkpoints"))
    (tmp_path / "store").mkdir()
    shipped.MANIFEST.write_text(json.dumps({"teacher_tiny/model": {"fada.json": "0" * 64}}))
    with pytest.raises(InputError, match="fada-bench train fast_decoder_tiny"):
        load_fast_decoder("tiny")
    m = copy.deepcopy(tiny)
    m.fast_decoder = build_fast_decoder("tiny", m.vae, seed=4)
    m.save(tmp_path / "trained")
    entry = shipped.add_checkpoint("fast_decoder_tiny/model", tmp_path / "trained", "fast_decoder")
    assert set(entry) == {"fast_decoder/config.json", "fast_decoder/diffusion_pytorch_model.safetensors"}
    assert set(shipped.manifest()) == {"teacher_tiny/model", "fast_decoder_tiny/model"}
    back = load_fast_decoder("tiny")
    assert back.config.vae_digest == m.fast_decoder.config.vae_digest
    z = torch.randn(2, 8, 16, 16)
    with torch.no_grad():                 # float16 weights: within half precision of the original
        torch.testing.assert_close(back.float()(z), m.fast_decoder(z), rtol=2e-2, atol=2e-2)
    # a retrained decoder replaces the shipped one and its blobs; repacking the teacher keeps it
    m.fast_decoder = build_fast_decoder("tiny", m.vae, seed=5)
    m.save(tmp_path / "retrained")
    new = shipped.add_checkpoint("fast_decoder_tiny/model", tmp_path / "retrained", "fast_decoder")
    blobs = {p.name for p in shipped.BLOBS.iterdir()}
    assert set(new.values()) <= blobs and not (set(entry.values()) - set(new.values())) & blobs
    shipped.pack({"teacher_tiny/model": tmp_path / "trained"})
    assert shipped.manifest()["fast_decoder_tiny/model"] == new
    with pytest.raises(InputError, match="no fast decoder is known for the sd15"):
        load_fast_decoder("sd15")


def test_recipe_vae_takes_the_shipped_teacher_where_none_was_trained(tiny, tmp_path, monkeypatch):
    # fast_decoder_tiny names its VAE's folder `runs/teacher_tiny/model`, as the other recipes name
    # their parents: `fada-bench train` uses a teacher trained here, else the shipped one.
    from fada_bench.weight_files import shipped

    monkeypatch.setattr(shipped, "BLOBS", tmp_path / "store" / "models")
    monkeypatch.setattr(shipped, "MANIFEST", tmp_path / "store" / "models.json")
    monkeypatch.setenv("FADA_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FADA_BENCH_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)
    tiny.save(tmp_path / "packed")
    shipped.pack({"teacher_tiny/model": tmp_path / "packed"})
    named = load_recipe("fast_decoder_tiny").vae
    assert named == "runs/teacher_tiny/model"
    got = Path(shipped.trained_or_shipped(named))
    assert got == tmp_path / "cache" / "models" / "teacher_tiny" / "model"
    assert load_models(got).vae.config.latent_channels == tiny.vae.config.latent_channels
    tiny.save(tmp_path / "runs" / "teacher_tiny" / "model")
    assert shipped.trained_or_shipped(named) == named              # one trained here comes first
    assert shipped.trained_or_shipped("runs/other/model") == "runs/other/model"


def test_decoder_and_fast_decoder_recipe_are_checked_before_any_work(tmp_path):
    from fada_bench.options import OptionError
    from fada_bench.runner import RunConfig
    from fada_bench.speed import SpeedConfig

    with pytest.raises(OptionError, match=r"--decoder 'fats' is not valid \(did you mean 'fast'\?\); valid: vae, fast"):
        RunConfig(methods=["fada_fast"], suite="synthetic", out=tmp_path / "run", decoder="fats")
    with pytest.raises(OptionError, match="--decoder 'vea'"):
        SpeedConfig(methods=["fada_fast"], fast={"decoder": "vea"})
    assert RunConfig(methods=["fada_fast"], suite="synthetic", out=tmp_path / "run", decoder="fast").decoder == "fast"
    with pytest.raises(OptionError, match="unknown recipe key 'objective.kl_weight'"):
        _recipe(tmp_path, tmp_path / "teacher", objective={"kl_weight": 0.1})
