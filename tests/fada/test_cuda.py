"""The GPU fast path, on a CUDA device (skipped elsewhere; benchmarks/gpu_run.sh runs these first):
the decode overlapped on a second CUDA stream gives the in-line decode's frames, and bf16 weights
and activations stay near fp32 for each sampler family (DDIM, PeRFlow, TCD)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.cuda

# bf16 keeps 8 bits of mantissa: over a sampling run its rounding moves the video a little. The
# bound is on the mean absolute difference in 8-bit levels over every pixel of the clip, the same
# bound the CPU bf16 test (tests/fada_bench/test_speed.py) states; a wholesale failure (a NaN, a wrong cast,
# a saturated frame) moves it by tens of levels.
BF16_MEAN_LEVELS = 8.0


@pytest.fixture(scope="module")
def teacher(nudged_teacher):
    return nudged_teacher


def _generate(models, n_frames=20, sampler="ddim", steps=3, **fast):
    from fada.pipeline import FadaPipeline

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal(n_frames * 640 + 1280) * 0.1).astype(np.float32)
    pipe = FadaPipeline(copy.deepcopy(models), device="cuda", **fast)
    return pipe(ref, audio, n_frames, seed=3, sampler=sampler, steps=steps, guidance="multi", cfg_a=6.5, cfg_r=2.0)


def test_overlapped_decoder_runs_on_a_side_stream_and_gives_the_inline_frames(teacher):
    from fada.decode_overlap import OverlappedDecoder
    from fada.models.bundle import decode_latents

    vae = copy.deepcopy(teacher.vae).cuda().eval()
    lat = [torch.randn(16, 8, 16, 16, device="cuda", generator=torch.Generator("cuda").manual_seed(i)) for i in range(2)]
    with torch.no_grad():
        inline = [decode_latents(vae, z) for z in lat]
        dec = OverlappedDecoder(vae, 8, "cuda")
        assert dec._stream != torch.cuda.current_stream()
        for z in lat:
            dec.submit(z)
        frames, first_done, busy = dec.finish()
    for a, b in zip(frames, inline):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert busy > 0 and np.isfinite(first_done)


def test_overlapped_decode_keeps_the_pipelines_frames(teacher):
    # 40 frames: three windows, so two decodes run beside the next window's denoising.
    ref = _generate(teacher, n_frames=40)
    out = _generate(teacher, n_frames=40, overlap_decode=True)
    assert ref.windows == 3
    assert np.abs(out.video.frames.astype(int) - ref.video.frames.astype(int)).max() <= 1


@pytest.mark.parametrize("sampler,steps", [("ddim", 25), ("perflow", 6), ("tcd", 6)])
def test_bf16_stays_near_fp32(teacher, sampler, steps):
    fp32 = _generate(teacher, sampler=sampler, steps=steps)
    bf16 = _generate(teacher, sampler=sampler, steps=steps, dtype=torch.bfloat16)
    assert bf16.video.frames.shape == fp32.video.frames.shape and bf16.nfe_total == fp32.nfe_total
    diff = np.abs(bf16.video.frames.astype(float) - fp32.video.frames.astype(float))
    assert diff.mean() < BF16_MEAN_LEVELS, (sampler, diff.mean(), diff.max())
