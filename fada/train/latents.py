"""Per-clip VAE latents, encoded once for every recipe that trains in latent space.

The VAE is frozen while the denoiser trains, so encoding every frame of every clip once is cheaper
than encoding each window at every step (a clip is visited many times). The cache folder is keyed
by the VAE's weights, so a new VAE never reads old latents.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import _resize, to_tensor_images
from ..data.io import atomic_path, read_video
from ..data.manifest import read_manifest
from ..models.bundle import encode_images
from .run_lock import in_turn


def vae_digest(vae) -> str:
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    h.update(repr(float(vae.config.scaling_factor)).encode())
    return h.hexdigest()[:16]


def latent_folder(data_folder: str | os.PathLike, vae, size: int) -> Path:
    return Path(data_folder) / "latents" / f"vae-{vae_digest(vae)}-{size}px"


@torch.no_grad()
def encode_clip_latents(data_folder: str | os.PathLike, ids: list[str], vae, size: int, out: Path,
                        chunk: int = 25, progress=None) -> Path:
    """Write out/ID.npy (float16, T x C x h x w, scaled as the denoiser sees them) for each clip
    that lacks one. Returns `out`. A second process encoding into the same folder (a trainer and a
    cache builder started together) waits for the first and then encodes only what is still
    missing, rather than encoding every clip again beside it."""
    data_folder = Path(data_folder)
    df = read_manifest(data_folder).set_index("id")
    with in_turn(out, "encode"):
        _encode_missing(data_folder, df, ids, vae, size, out, chunk, progress)
    return out


def _encode_missing(data_folder: Path, df, ids, vae, size: int, out: Path, chunk: int, progress) -> None:
    device = next(vae.parameters()).device
    todo = [i for i in ids if not (out / f"{i}.npy").is_file()]
    for n, cid in enumerate(todo):
        row = df.loc[cid]
        frames = _resize(read_video(data_folder / row["video"], fps=float(row["fps"]), audio=False).frames, size)
        x = to_tensor_images(frames).to(device)
        lat = torch.cat([encode_images(vae, x[i:i + chunk]) for i in range(0, len(x), chunk)])
        buf = io.BytesIO()
        np.save(buf, lat.cpu().numpy().astype(np.float16), allow_pickle=False)
        with atomic_path(out / f"{cid}.npy") as tmp:
            tmp.write_bytes(buf.getvalue())
        if progress:
            progress(n + 1, len(todo))
