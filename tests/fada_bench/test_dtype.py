"""`--dtype` and `--compile`: recorded in run.json and in every sample, and bf16 generation stays
close to fp32 for each sampler on the shipped checkpoints (CPU)."""
from __future__ import annotations

import copy
import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from harness_util import TINY_WORLD, bench_env, write_tiny_split

# One case per sampler (DDIM, TCD, PeRFlow) and per CFG mode (three-branch Eq. 9, learned tokens):
# method -> (checkpoint, steps, frames). TCD has no shipped checkpoint, so its sampler runs on the
# teacher's weights (trained for DDIM, so a real network behind TCD's own update rule). The teacher
# runs two windows (20 frames), so the motion frames carried between windows are bf16 too; the
# teacher (one DDIM step per window) and TCD (two) take fewer steps than their cards (25, 6)
# because a CPU without native bf16 convolutions (AVX2 only) spends about 6 s on each bf16
# denoiser call.
SAMPLERS = {"teacher": ("teacher_tiny/model", 1, 20), "tcd": ("teacher_tiny/model", 2, 8),
            "fada_fast": ("fada_fast_tiny/model", None, 8)}


@pytest.fixture(scope="module")
def face():
    """A face of the synthetic world and its speech: what the shipped generators were trained on."""
    from fada.data.synthetic.params import sample_identity
    from fada.data.synthetic.world import make_clip

    clip = make_clip(3, sample_identity(np.random.default_rng(3)), 20, 64)
    return clip.frames[0], clip.audio


@pytest.mark.slow
@pytest.mark.parametrize("method", list(SAMPLERS))
def test_bf16_stays_within_a_level_of_fp32_for_each_sampler(face, method):
    """Every module takes bf16 inputs (the log-mel and wav2vec2 front ends once did not) and the
    video stays close to fp32's. Measured on 4 Dec 2026 (AMD EPYC, AVX2, 1 thread, seed 5), mean
    |bf16 - fp32| in 8-bit levels: teacher DDIM (2 windows) 0.49, TCD 0.61, FADA-Fast PeRFlow 0.33;
    99th percentile 2-3 and maximum 6-8 levels. Bound: mean below 1.5 levels and 99th percentile at
    most 4. It catches a bf16 path that breaks (a module left in fp32 raises) or moves the picture
    wholesale, not a small rounding choice: rounding the timestep to bf16 as well left FADA-Fast's
    difference at 0.33 levels."""
    from fada.cfg_modes import CFG_MODES
    from fada.models.bundle import load_models
    from fada.pipeline import FadaPipeline
    from fada_bench.weight_files import shipped
    from fada_bench.registry import METHODS

    ref, audio = face
    checkpoint, steps, n_frames = SAMPLERS[method]
    card = METHODS.get(method)
    models = load_models(shipped.model_folder(checkpoint))
    frames = {}
    for dtype in (torch.float32, torch.bfloat16):
        pipe = FadaPipeline(copy.deepcopy(models), dtype=dtype)
        out = pipe(ref, audio, n_frames, seed=5, sampler=card.sampler, steps=steps or card.steps,
                   guidance=CFG_MODES.get(card.cfg.mode).guidance, cfg_a=card.cfg.audio, cfg_r=card.cfg.ref)
        frames[dtype] = out.video.frames.astype(np.float64)
        assert out.video.frames.dtype == np.uint8 and len(out.video.frames) == n_frames
    assert next(pipe.models.denoiser.parameters()).dtype == torch.bfloat16      # it really ran in bf16
    diff = np.abs(frames[torch.float32] - frames[torch.bfloat16])
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 4, (method, diff.mean(), np.percentile(diff, 99))
    assert frames[torch.float32].std() > 10                          # a picture, not a flat field


def test_half_precision_on_a_cpu_without_native_convolutions_gets_a_warning(monkeypatch):
    import fada_bench.options as options

    # The support check against what torch does: without it, a bf16 convolution runs on the slow
    # reference kernel; with it, on oneDNN's.
    from torch.profiler import profile

    conv = torch.nn.Conv2d(4, 4, 3).to(torch.bfloat16)
    with profile() as prof:
        conv(torch.zeros(1, 4, 8, 8, dtype=torch.bfloat16))
    slow = any(e.key == "aten::_slow_conv2d_forward" for e in prof.key_averages())
    assert slow != options._native_half_convolutions("bf16")
    assert (options.slow_dtype_warning("cpu", "bf16") is None) != slow
    monkeypatch.setattr(options, "_native_half_convolutions", lambda dtype: False)
    assert "no native fp16 convolution" in options.slow_dtype_warning("cpu", "fp16")
    assert options.slow_dtype_warning("cpu", "fp32") is None and options.slow_dtype_warning("cuda", "bf16") is None
    monkeypatch.setattr(options, "_native_half_convolutions", lambda dtype: True)
    assert options.slow_dtype_warning("cpu", "bf16") is None


def test_run_records_dtype_and_compile_in_run_json_and_samples(tmp_path, monkeypatch, capsys):
    # What is recorded, not bf16's numerics (the test above): --compile is checked for reaching the
    # pipeline (torch.compile called on the denoiser) with a stand-in compile, as inductor on a CPU
    # takes minutes, and the denoising loop is a stand-in returning zero latents in the pipeline's
    # dtype, as a CPU without native bf16 convolutions spends seconds on each bf16 denoiser call.
    # The clips are one window long (8 frames); the VAE and the other modules still run in bf16.
    from fada.pipeline import FadaPipeline
    from fada_bench.cli import main

    def zero_latents(self, scheduler, steps, bank, audio, lat_shape, *rest):
        return torch.zeros((1, self.models.frames, *lat_shape), dtype=self.dtype, device=self.device)
    monkeypatch.setattr(FadaPipeline, "_denoise", zero_latents)

    for k, v in bench_env(tmp_path / "bench").items():
        monkeypatch.setenv(k, v)
    write_tiny_split(tmp_path / "bench" / "splits", dataclasses.replace(TINY_WORLD, seconds=0.32))
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(type(m).__name__) or m)
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["fada-bench", "run", "--methods", "fada_fast,static", "--limit", "1",
                                      "--metrics", "none", "--dtype", "bf16", "--compile", "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code in (0, None), err
    # the CPU's lack of native bf16 convolutions is said before the run starts
    from fada_bench.options import _native_half_convolutions
    assert ("warning: --dtype bf16 on this CPU" in err) != _native_half_convolutions("bf16"), err
    assert compiled == ["FadaDenoiser"]
    made = json.loads((out / "run.json").read_text())["config"]
    assert (made["dtype"], made["compile"]) == ("bf16", True)
    s = pd.read_parquet(out / "samples.parquet").set_index("method")
    assert s.loc["fada_fast", "dtype"] == "bfloat16" and bool(s.loc["fada_fast", "compiled"]) is True
    assert pd.isna(s.loc["static", "dtype"])            # no generator, no dtype
    # fp32 stays the CPU default, and a folder made in bf16 is not resumed in fp32
    monkeypatch.setattr(sys, "argv", ["fada-bench", "run", "--methods", "static", "--limit", "1",
                                      "--metrics", "none", "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and "in bf16; resume it with the same --suite, --seed and --dtype" in capsys.readouterr().err
