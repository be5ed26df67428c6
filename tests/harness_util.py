"""Helpers for the harness tests: a tiny synthetic suite and ways to run `fada-bench run`."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from fada.data.synthetic.build import WorldConfig, plan

# The plugin modules subprocesses import (FADA_BENCH_PLUGINS). Only that folder goes on their
# PYTHONPATH: tests/ itself holds tests/fada and tests/fada_bench, which Python would take for the
# packages of those names (namespace packages) in a process whose path lacks the checkout.
PLUGINS = Path(__file__).resolve().parent / "plugins"
# 4 test clips of 0.8 s at 64 px: renders in about a second. (Not 32 px: x264 encodes frames that
# small differently from run to run, and resume tests compare runs byte for byte.)
TINY_WORLD = WorldConfig(n_train=0, n_test=4, n_openset=2, size=64, seed=11, seconds=0.8)


def write_tiny_split(folder: Path, cfg: WorldConfig = TINY_WORLD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ids = sorted(s.id for s in plan(cfg) if s.split == "test")
    path = folder / "synthetic.json"
    path.write_text(json.dumps({"dataset": "synthetic", "seed": 0, "world": dataclasses.asdict(cfg),
                                "n": len(ids), "ids": ids}))
    return path


def bench_env(root: Path) -> dict[str, str]:
    """Environment of a harness test: its own split file and world cache."""
    write_tiny_split(root / "splits")
    return {"FADA_BENCH_SPLITS": str(root / "splits"), "FADA_BENCH_CACHE": str(root / "cache")}


def subprocess_env(env: dict[str, str], **extra) -> dict[str, str]:
    e = {**os.environ, **env, **extra}
    e["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e["FADA_BENCH_PLUGINS"] = "harness_toy_plugin"
    return e


def cli(args: list[str], env: dict[str, str], **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fada_bench", *args], env=subprocess_env(env, **extra),
                          capture_output=True, text=True, timeout=300)


def synthetic_suite_clips(out: Path, n: int) -> list:
    """The first `n` clips of the synthetic test suite, rendered into `out` as the suite renders
    them: [(Sample, ground-truth Video, recorded params)], in id order."""
    from fada.data.io import read_video
    from fada.data.synthetic.build import build_world
    from fada.data.manifest import load_npz
    from fada_bench.paths import find_split
    from fada_bench.types import Sample

    world = json.loads(find_split("synthetic").read_text())["world"]
    cfg = WorldConfig(n_train=0, n_test=n, n_openset=0, size=world["size"], seed=world["seed"],
                      seconds=world["seconds"])
    clips = []
    for r in sorted(build_world(out, cfg, workers=1), key=lambda r: r["id"]):
        v = read_video(out / r["video"])
        s = Sample(r["id"], v.frames[0], v.audio, v.n_frames, 25.0, out / r["video"], out / r["params"])
        clips.append((s, v, load_npz(out / r["params"])))
    return clips


def encoded(frames, audio, tmp, name="v"):
    """Frames and audio through the suite's encoding (h264 + AAC), as every scored video is."""
    from fada.data.io import read_video, write_video

    return read_video(write_video(tmp / f"{name}.mp4", frames, 25.0, audio))
