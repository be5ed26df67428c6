"""How faithful a fast decoder is to the VAE decoder it imitates, on the synthetic suite's test clips.

For the first FRAMES frames of the first CLIPS test clips (downscaled 2x by box averaging to the
tiny config's 64 px), the VAE encodes each frame (posterior mean) and both decoders decode the
latent. Prints PSNR (dB, 8-bit) of the fast decoder against the VAE decoder, and of each against
the ground-truth frames, as the mean over clips and the lowest clip. The decoder is the one
`--decoder fast` uses (trained here under the checkpoints folder, else the shipped one), the VAE
that of the teacher it was distilled from (likewise):

    python benchmarks/eval_fast_decoder.py
    FADA_BENCH_CHECKPOINTS=/tmp/none python benchmarks/eval_fast_decoder.py     # the shipped ones
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from fada.data.io import psnr, read_video
from fada.models.bundle import load_models
from fada_bench.adapters.fada_pipeline import load_fast_decoder
from fada_bench.paths import checkpoints_dir
from fada_bench.suites import make_suite
from fada_bench.weight_files.shipped import trained_or_shipped


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    a = ap.parse_args(argv)

    vae = load_models(trained_or_shipped(str(checkpoints_dir() / "teacher_tiny" / "model"))).vae.eval()
    fast = load_fast_decoder("tiny").float().eval()
    suite = make_suite("synthetic")
    ids = suite.ids()[: a.clips]
    suite.prepare(ids)
    rows = []
    for sid in ids:
        frames = read_video(suite.sample(sid).video_path, audio=False).frames[: a.frames]
        t, h, w, c = frames.shape
        gt = frames.reshape(t, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4)).round().astype(np.uint8)
        x = torch.from_numpy(gt).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.inference_mode():
            z = vae.encode(x).latent_dist.mean
            by_vae = to_uint8(vae.decode(z).sample)
            by_fast = to_uint8(fast(z * vae.config.scaling_factor))
        rows.append((psnr(by_fast, by_vae), psnr(by_vae, gt), psnr(by_fast, gt)))
    r = np.array(rows)
    for j, what in enumerate(("fast vs VAE decoder", "VAE decoder vs ground truth", "fast vs ground truth")):
        print(f"{what}: PSNR {r[:, j].mean():.1f} dB (lowest clip {r[:, j].min():.1f}) over {len(ids)} clips x {a.frames} frames")


if __name__ == "__main__":
    main()
