"""A resumed run reproduces an uninterrupted one only if writing the same frames gives the same
bytes, whatever the process did before. x264's macroblock-tree rate control broke that for small
clips: one of these clips came out three ways in ten writes."""
import gc
import hashlib

import numpy as np

from fada.data.io import read_video, write_video
from fada.data.synthetic.build import WorldConfig, build_world


def test_write_video_gives_the_same_bytes_every_time(tmp_path):
    build_world(tmp_path / "w", WorldConfig(n_train=0, n_test=4, n_openset=0, size=64, seed=11, seconds=0.8), workers=1)
    paths = sorted((tmp_path / "w" / "videos").glob("*.mp4"))
    seen: dict[str, set] = {}
    for rep in range(10):
        for p in paths:
            v = read_video(p)
            out = write_video(tmp_path / "out.mp4", v.frames, v.fps, v.audio)
            seen.setdefault(p.stem, set()).add(hashlib.sha256(out.read_bytes()).hexdigest())
            junk = [np.random.bytes(5000 * (rep + 1)) for _ in range(30)]   # churn the heap
            del junk
            gc.collect()
    assert all(len(s) == 1 for s in seen.values()), {k: len(s) for k, s in seen.items()}
