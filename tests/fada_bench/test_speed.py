"""`fada-bench speed` and the fast path: a CPU run of the tiny config writes every column, its
stage timings add up to the total, FLOPs are counted, and each fast-path switch leaves the output
unchanged (fp32, CPU)."""
from __future__ import annotations

import json
import math
import platform

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fada.errors import InputError
from fada.profiling import hardware_label, processor_name
from fada_bench.cli import app
from fada_bench.speed import STAGES, SpeedConfig, run_speed


@pytest.fixture(scope="module")
def rows():
    # one timed clip after the warm-up: the columns and their sums are checked, not the spread.
    # FADA-Balanced, not the teacher: the same network at 18 calls a window, not 75
    return {r["method"]: r for r in run_speed(SpeedConfig(methods=["fada_balanced", "fada_fast"], frames=16,
                                                          repeats=1))}


def test_speed_rows_have_every_column_and_stages_add_up(rows):
    for name, r in rows.items():
        for key in ("sec_per_video_sec", "sec_per_video_sec_min", "sec_per_video_sec_max", "first_clip_latency_s",
                    "peak_mem_gb", "gflop_per_clip", "achieved_tflops", "total_s",
                    *[f"{s}_s" for s in STAGES], *[f"{s}_gflop" for s in STAGES]):
            assert math.isfinite(r[key]) and r[key] >= 0, (name, key, r[key])
        assert r["device"] and r["dtype"] == "fp32" and r["resolution"] == 64 and r["frames"] == 16
        assert math.isnan(r["peak_fraction"])               # no peak known for this CPU unless given
        # the stages are the pipeline's whole work: their sum is the total within 10%
        assert abs(r["stages_sum_s"] - r["total_s"]) <= 0.1 * r["total_s"], r
        assert 0 < r["first_clip_latency_s"] <= r["total_s"] * 1.1
        assert r["sec_per_video_sec_min"] <= r["sec_per_video_sec"] <= r["sec_per_video_sec_max"]
        assert r["clip_s"] == [r["total_s"]]                 # each timed clip's seconds, in the order taken


def test_nfe_is_counted_and_flops_follow_it(rows):
    t, f = rows["fada_balanced"], rows["fada_fast"]
    assert (t["nfe_per_window"], f["nfe_per_window"]) == (18, 6)
    # the same UNet geometry at 3x the calls; FADA-Fast's CFG layers make each of its calls a little
    # dearer (2.94 measured on 2026-12-04), so the ratio sits just under 3
    ratio = t["denoise_gflop"] / f["denoise_gflop"]
    assert 2.4 < ratio <= 3.0, ratio
    assert t["vae_decode_gflop"] == pytest.approx(f["vae_decode_gflop"])


def test_timed_clips_go_round_robin_and_a_gpu_peak_leaves_out_the_other_methods_models(monkeypatch):
    # The orchestration alone, with stand-ins for the pipelines: every warm-up first, then repeat 1
    # of each method, repeat 2 of each, ...; on a GPU each clip's peak is less the models of the
    # other methods, which stay resident beside it.
    import fada_bench.speed as speed

    order, residents = [], {"teacher": 2.0, "fada_fast": 1.5}

    class Out:
        peak_mem_gb = 10.0

    def prepare(card, cfg):
        order.append(("warm-up", card.name))
        return speed._Timed(card, None, (), {}, resident_gb=residents[card.name])

    def clip(m, device, others_gb=0.0):
        order.append(("clip", m.card.name))
        m.mems.append(Out.peak_mem_gb - others_gb)

    monkeypatch.setattr(speed, "prepare_method", prepare)
    monkeypatch.setattr(speed, "time_clip", clip)
    monkeypatch.setattr(speed, "summarize", lambda m, cfg: {"method": m.card.name, "peak_mem_gb": max(m.mems)})
    calls = []
    rows = run_speed(SpeedConfig(methods=["teacher", "fada_fast"], repeats=2), lambda *a: calls.append(a))
    assert order == [("warm-up", "teacher"), ("warm-up", "fada_fast"), ("clip", "teacher"), ("clip", "fada_fast"),
                     ("clip", "teacher"), ("clip", "fada_fast")]
    assert {r["method"]: r["peak_mem_gb"] for r in rows} == {"teacher": 8.5, "fada_fast": 8.0}
    assert [c[1] for c in calls] == [0, 1, 2, 3, 4, 5, 6] and {c[2] for c in calls} == {6}


def test_flop_counter_matches_a_hand_count_for_a_convolution():
    # FlopCounterMode's convention (2 FLOPs per multiply-add), checked on a conv we can count by hand.
    from fada_bench.speed import count_flops

    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)
    x = torch.zeros(2, 8, 10, 10)
    assert count_flops(lambda: conv(x)) == 2 * (2 * 16 * 10 * 10) * (8 * 3 * 3)


def test_speed_command_writes_csv_and_json(tmp_path):
    out = tmp_path / "speed.csv"
    res = CliRunner().invoke(app, ["speed", "--methods", "fada_fast", "--repeats", "1", "--frames", "16",
                                   "--peak-tflops", "1.0", "--out", str(out)], terminal_width=220)
    assert res.exit_code == 0, res.output + repr(res.exception)
    df = pd.read_csv(out)
    assert list(df["method"]) == ["fada_fast"] and df["peak_fraction"].notna().all()
    (row,) = json.loads(out.with_suffix(".json").read_text())
    assert row["fast_path"]["batch_cfg"] is True
    # each clip's seconds in the JSON (a list has no CSV cell)
    assert len(row["clip_s"]) == 1 and "clip_s" not in df.columns


def test_a_timed_clip_records_its_seconds_stages_and_its_own_peak(monkeypatch):
    import fada_bench.speed as speed

    class Out:
        first_clip_latency, peak_mem_gb = 0.25, 10.0
        seconds = {"denoise": 0.5, "vae_decode": 0.125}

    ticks = iter([1.0, 3.5, 10.0, 11.0])
    monkeypatch.setattr(speed, "clock", lambda device: next(ticks))
    m = speed._Timed(card=None, pipe=lambda *a, **kw: Out(), inputs=(), kw={})
    speed.time_clip(m, "cpu", others_gb=2.5)
    speed.time_clip(m, "cpu")
    assert m.totals == [2.5, 1.0] and m.latencies == [0.25, 0.25]
    assert m.mems == [7.5, 10.0]                      # less the other methods' resident models
    assert m.stages["denoise"] == [0.5, 0.5] and m.stages["reference_net"] == [0.0, 0.0]
    assert m.busy == [0.125, 0.125]                   # no overlap: busy is the decode's own time


# ---------------------------------------------------------------------------- the fast path, on and off

def _generate(models, n_frames=20, **fast):
    from fada.pipeline import FadaPipeline

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal(16 * 1280) * 0.1).astype(np.float32)
    pipe = FadaPipeline(models, **fast)
    return pipe(ref, audio, n_frames, seed=3, sampler="ddim", steps=3, guidance="multi", cfg_a=6.5, cfg_r=2.0)


@pytest.fixture(scope="module")
def teacher(nudged_teacher):
    return nudged_teacher


@pytest.fixture(scope="module")
def reference(teacher):
    return _generate(teacher)


# Tolerance: frames are uint8; the paths differ only in the order of floating-point sums (fp32),
# so no pixel may move by more than 1 level. Two windows (20 frames), except for compile: the second
# window's inputs (motion frames) have other shapes and trace again, which doubles the compile time
# (84 s against 41 s on one thread of a 2-core CPU, beside a training run), so compile is checked on
# one window.
@pytest.mark.parametrize("fast", [{"batch_cfg": False}, {"sdpa": False}, {"vae_chunk": 3}, {"overlap_decode": True},
                                  {"compile": True, "compile_backend": "aot_eager", "n_frames": 16}])
def test_fast_path_switch_keeps_the_output(teacher, reference, fast):
    out = _generate(teacher, **fast)
    if fast.get("n_frames"):
        reference = _generate(teacher, n_frames=fast["n_frames"])
    diff = np.abs(out.video.frames.astype(int) - reference.video.frames.astype(int))
    assert diff.max() <= 1, (fast, diff.max())
    assert out.nfe_total == reference.nfe_total          # a branch is one NFE, batched or not


def test_speed_at_another_resolution_and_a_clear_error_for_a_size_the_networks_cannot_take(rows):
    (r,) = run_speed(SpeedConfig(methods=["fada_fast"], frames=16, repeats=1, resolution=32))
    base = rows["fada_fast"]       # the same 16 frames at the default 64 px (FLOPs do not depend on repeats)
    assert r["resolution"] == 32 and base["resolution"] == 64
    # a quarter of the pixels: a quarter of the convolution work (attention is a little less)
    assert 0.2 < r["gflop_per_clip"] / base["gflop_per_clip"] < 0.3
    with pytest.raises(InputError, match="multiple of 16"):
        run_speed(SpeedConfig(methods=["fada_fast"], frames=16, repeats=1, resolution=40))


def test_overlapped_decode_times_add_up_over_several_windows():
    # Two windows: the first window's decode runs beside the second's denoising. What the video pays
    # for (the exposed decode and the other stages) still adds up to the total; the decoder's own time
    # is kept apart, and the first clip is ready before the video is.
    (r,) = run_speed(SpeedConfig(methods=["fada_fast"], frames=32, repeats=2, fast={"overlap_decode": True}))
    assert abs(r["stages_sum_s"] - r["total_s"]) <= 0.1 * r["total_s"], r
    assert 0 < r["vae_decode_s"] and 0 < r["vae_decode_busy_s"]
    assert 0 < r["first_clip_latency_s"] < r["total_s"]
    assert r["nfe_total"] == 2 * r["nfe_per_window"]


def test_processor_name_is_the_cpu_model_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n\nprocessor\t: 1\n")
    assert processor_name(str(info)) == "AMD EPYC 9B14"
    fallback = platform.processor() or platform.machine() or "unknown"
    info.write_text("processor\t: 0\nmodel name\t: \n")        # no model: the architecture instead
    assert processor_name(str(info)) == fallback
    assert processor_name(str(tmp_path / "missing")) == fallback


def test_hardware_label_names_the_threads_a_run_used_or_its_gpu():
    hw = {"processor": "AMD EPYC", "machine": "x86_64", "cpu_count": 2, "torch_threads": 1,
          "cuda": ["NVIDIA H100 80GB HBM3"]}
    assert hardware_label(hw) == "AMD EPYC x1"                 # one of two cores, as training logs say
    assert hardware_label(hw, "cuda") == "NVIDIA H100 80GB HBM3"
    assert hardware_label({**hw, "cuda": []}, "cuda:0") == "AMD EPYC x1"
    old = {"machine": "x86_64", "cpu_count": 2}                 # a run recorded before torch_threads
    assert hardware_label(old) == "x86_64 x2"
    assert hardware_label({}) == "cpu x?"
