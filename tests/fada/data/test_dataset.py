"""The clip dataset yields aligned windows for the generator, in both worlds' folder layout."""
import numpy as np
import pytest
import torch

from fada.data.dataset import ClipDataset
from fada.data.io import read_video
from fada.data.manifest import read_manifest


def test_items_have_the_documented_shapes(small_world):
    folder, cfg, rows = small_world
    ds = ClipDataset(folder, split="train", tiers=None, n_frames=8, n_motion=2, audio_context=2)
    item = ds[0]
    assert item["target"].shape == (8, 3, 64, 64)
    assert item["motion"].shape == (2, 3, 64, 64)
    assert item["reference"].shape == (3, 64, 64)
    assert item["audio"].shape == ((8 + 4) * 640,)
    assert item["target"].min() >= -1 and item["target"].max() <= 1
    assert item["expression"].shape == (8, 4) and item["pose"].shape == (8, 6)
    assert item["defects"].dtype == torch.bool


def test_window_matches_the_video_and_audio(small_world):
    folder, cfg, rows = small_world
    ds = ClipDataset(folder, split="test", tiers=None, n_frames=10, n_motion=3, audio_context=2)
    for i in range(len(ds)):
        item = ds[i]
        row = ds.rows.iloc[i]
        v = read_video(folder / row.video)
        s = item["start"]
        expect = torch.from_numpy(v.frames[s:s + 10]).float().div(127.5).sub(1).permute(0, 3, 1, 2)
        assert torch.allclose(item["target"], expect)
        a = v.audio
        lo = (s - 2) * 640
        if lo >= 0 and (s + 12) * 640 <= a.size:
            assert np.allclose(item["audio"].numpy(), a[lo:(s + 12) * 640])
        # Motion frames are the frames just before the window, or the reference at the start.
        if s >= 3:
            mexp = torch.from_numpy(v.frames[s - 3:s]).float().div(127.5).sub(1).permute(0, 3, 1, 2)
            assert torch.allclose(item["motion"], mexp)
        else:
            assert torch.allclose(item["motion"][0], item["reference"])


def test_tier_selection_follows_the_filters(small_world):
    folder, cfg, rows = small_world
    df = read_manifest(folder)
    n_a = int(((df.split == "train") & (df.tier == "A")).sum())
    n_ab = int(((df.split == "train") & df.tier.isin(["A", "B"])).sum())
    assert len(ClipDataset(folder, tiers=("A",), n_frames=4)) == n_a
    assert len(ClipDataset(folder, tiers=("A", "B"), n_frames=4)) == n_ab


def test_resizes_and_rejects_impossible_requests(small_world):
    folder, cfg, rows = small_world
    assert ClipDataset(folder, split="test", tiers=None, n_frames=4, size=32)[0]["target"].shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="no clips"):
        ClipDataset(folder, split="test", tiers=None, n_frames=10_000)


def test_clip_cache_bounded_or_keeping_every_clip(small_world):
    folder = small_world[0]
    bounded = ClipDataset(folder, tiers=None, n_frames=4, cache_clips=1)
    every = ClipDataset(folder, tiers=None, n_frames=4, cache_clips=None)
    n = len(every.rows)
    assert n > 1
    for i in range(n):
        a, b = bounded.get(i * bounded.windows_per_clip), every.get(i * every.windows_per_clip)
        assert torch.equal(a["target"], b["target"]) and torch.equal(a["audio"], b["audio"])
    assert len(bounded._cache) == 1 and len(every._cache) == n
