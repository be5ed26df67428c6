"""`--dtype` and `--compile`: recorded in run.json and in every sample, and bf16 generation stays
close to fp32 for each sampler on the shipped checkpoints (CPU)."""
from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from harness_util import bench_env

# Card -> (checkpoint, steps for this test). TCD has no shipped checkpoint, so its sampler runs on
# the teacher's weights (trained for DDIM, so a real network behind TCD's own update rule); the
# teacher's DDIM runs 6 steps here instead of its card's 25, to keep the test near a minute.
SAMPLERS = {"teacher": ("teacher_tiny/model", 6), "fada_balanced": ("fada_balanced_tiny/model", None),
            "fada_fast": ("fada_fast_tiny/model", None), "tcd": ("teacher_tiny/model", None)}


@pytest.fixture(scope="module")
def face():
    """A face of the synthetic world and its speech: what the shipped generators were trained on."""
    from fada.data.synthetic.params import sample_identity
    from fada.data.synthetic.world import make_clip

    clip = make_clip(3, sample_identity(np.random.default_rng(3)), 8, 64)
    return clip.frames[0], clip.audio


@pytest.mark.slow
@pytest.mark.parametrize("method", list(SAMPLERS))
def test_bf16_stays_within_a_level_of_fp32_for_each_sampler(face, method):
    """Measured on 2 Dec 2026 (AMD EPYC, 1 thread, one 16-frame window, seed 5), mean |bf16 - fp32|
    in 8-bit levels: teacher DDIM 0.55, FADA-Balanced PeRFlow 0.63, FADA-Fast PeRFlow 0.32, TCD 0.58;
    99th percentile 2 and maximum 6-7 levels for each. Bound: mean below 1.5 levels and 99th
    percentile at most 4. A bf16 path that loses the signal fails it: the same generators driven by a
    reference of random pixels (off the trained distribution, where small errors grow) moved by
    3.6-5.8 levels on average."""
    from fada.cfg_modes import CFG_MODES
    from fada.models.bundle import load_models
    from fada.pipeline import FadaPipeline
    from fada_bench.weight_files import shipped
    from fada_bench.registry import METHODS

    ref, audio = face
    checkpoint, steps = SAMPLERS[method]
    card = METHODS.get(method)
    models = load_models(shipped.model_folder(checkpoint))
    frames = {}
    for dtype in (torch.float32, torch.bfloat16):
        pipe = FadaPipeline(copy.deepcopy(models), dtype=dtype)
        out = pipe(ref, audio, 8, seed=5, sampler=card.sampler, steps=steps or card.steps,
                   guidance=CFG_MODES.get(card.cfg.mode).guidance, cfg_a=card.cfg.audio, cfg_r=card.cfg.ref)
        frames[dtype] = out.video.frames.astype(np.float64)
        assert out.video.frames.dtype == np.uint8
    assert next(pipe.models.denoiser.parameters()).dtype == torch.bfloat16      # it really ran in bf16
    diff = np.abs(frames[torch.float32] - frames[torch.bfloat16])
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 4, (method, diff.mean(), np.percentile(diff, 99))
    assert frames[torch.float32].std() > 10                          # a picture, not a flat field


def test_run_records_dtype_and_compile_in_run_json_and_samples(tmp_path, monkeypatch, capsys):
    # --compile is checked for reaching the pipeline (torch.compile called on the denoiser) with a
    # stand-in compile: inductor on a CPU takes minutes.
    from fada_bench.cli import main

    for k, v in bench_env(tmp_path / "bench").items():
        monkeypatch.setenv(k, v)
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(type(m).__name__) or m)
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["fada-bench", "run", "--methods", "fada_fast,static", "--limit", "1",
                                      "--metrics", "none", "--dtype", "bf16", "--compile", "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code in (0, None), capsys.readouterr().err
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
