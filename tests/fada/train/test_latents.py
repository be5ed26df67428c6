"""Latents are encoded once per training set, even when two processes start together."""
import fcntl
import os
import threading

import numpy as np
import torch

from fada.data.manifest import read_manifest
from fada.train import latents


def fake_encoder(calls):
    """Stands in for the VAE's encoder (the lock is under test, not the VAE): counts the frames."""
    def encode(vae, x):
        calls.append(len(x))
        return torch.zeros(len(x), 4, x.shape[-2] // 8, x.shape[-1] // 8)
    return encode


def test_a_second_encoder_waits_for_the_first_then_encodes_only_what_is_missing(small_world, tmp_path, monkeypatch):
    folder, _, _ = small_world
    ids = list(read_manifest(folder)["id"])[:3]
    calls = []
    monkeypatch.setattr(latents, "encode_images", fake_encoder(calls))
    vae = torch.nn.Linear(1, 1)
    out = tmp_path / "lat"
    out.mkdir()

    # The test holds the folder's encode lock, as a first process encoding these clips would.
    fd = os.open(out / ".encode.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    second = threading.Thread(target=latents.encode_clip_latents, args=(folder, ids, vae, 64, out))
    second.start()
    second.join(timeout=1.0)
    assert second.is_alive() and calls == []          # it waits rather than encoding beside the first
    for cid in ids[:2]:                                # the first finishes two of the three clips
        np.save(out / f"{cid}.npy", np.ones((1, 4, 8, 8), np.float16))
    os.close(fd)
    second.join(timeout=60)
    assert not second.is_alive()
    assert len(calls) >= 1 and sorted(p.name for p in out.glob("*.npy")) == sorted(f"{c}.npy" for c in ids)
    assert (np.load(out / f"{ids[0]}.npy") == 1).all()                # the first's files are kept
    assert np.load(out / f"{ids[2]}.npy").shape[1:] == (4, 8, 8)      # the missing one encoded

    n_one_clip = sum(calls)
    calls.clear()                                      # nothing missing: nothing encoded, no wait
    latents.encode_clip_latents(folder, ids, vae, 64, out)
    assert calls == [] and n_one_clip > 0
