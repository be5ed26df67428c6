"""The two model configs: `sd15` (the real world, SD 1.5 geometry) and `tiny` (the synthetic world).

The same classes run both; a config is data. `unet` is a diffusers UNet2DConditionModel config
shared by the ReferenceNet and the denoising UNet (the paper initialises both from SD 1.5).
"""
from __future__ import annotations

import copy

# SD 1.5's UNet2DConditionModel: diffusers' defaults are exactly this geometry
# (320/640/1280/1280 channels, 2 layers per block, 768-d cross-attention, 8 heads).
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
)
SD15_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    scaling_factor=0.18215,
)

# Tiny: 64 px frames, a 4x VAE to 8 x 16 x 16 latents, attention at 8 and 4 px. Sized so that a
# training step of 4 clips x 8 frames costs about 70 GFLOP (about a second on 2 CPU cores).
TINY_UNET = dict(
    sample_size=16, in_channels=8, out_channels=8, layers_per_block=1,
    block_out_channels=(64, 96, 128),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=64, attention_head_dim=8, norm_num_groups=16,
)
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=8, sample_size=64, layers_per_block=1,
    block_out_channels=(32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=16, scaling_factor=1.0,
)

CONFIGS = {
    # Several audio tokens per frame: over a single key, cross-attention's softmax is 1 and the
    # audio layer adds the same vector at every position, whatever the image token asks.
    "sd15": dict(unet=SD15_UNET, vae=SD15_VAE, resolution=512, audio="wav2vec2", audio_dim=768,
                 audio_layers=12, audio_window=2, audio_tokens_per_frame=4, frames=16, motion_frames=2,
                 temporal_heads=8, cfg_tokens=4),
    # The shipped tiny weights were trained with one audio token per frame (see above).
    "tiny": dict(unet=TINY_UNET, vae=TINY_VAE, resolution=64, audio="mel", audio_dim=64,
                 audio_layers=1, audio_window=2, audio_tokens_per_frame=1, frames=16, motion_frames=2,
                 temporal_heads=4, cfg_tokens=4),
}


def get_config(name: str) -> dict:
    if name not in CONFIGS:
        raise KeyError(f"unknown model config {name!r}; known: {', '.join(CONFIGS)}")
    return copy.deepcopy(CONFIGS[name])


def size_step(name: str) -> int:
    """Frame sizes of a config must be multiples of this: its VAE's downsampling times its UNet's."""
    c = CONFIGS[name]
    return 2 ** (len(c["vae"]["block_out_channels"]) - 1) * 2 ** (len(c["unet"]["block_out_channels"]) - 1)
