"""A small convolutional decoder distilled from the VAE's decoder (the idea of TAESD), for speed.

The VAE decoder runs once per frame for every method, so for a 6-NFE student it is a large share
of the time (about a fifth on the tiny config on a CPU). This decoder maps the same scaled
latents to the same images with a few 3x3 convolutions: a stem, residual blocks at each
resolution, nearest-neighbour upsampling by 2 between resolutions, and a 3-channel head. It is
trained against the VAE decoder's own outputs on the training clips' latents (`fada-bench train
fast_decoder_tiny`), so it imitates the VAE, never the ground truth, and it is bound to that VAE:
`vae_digest` records which one (fada.train.latents.vae_digest), and a pipeline refuses a pair
that does not match.

Geometry per config (`FAST_DECODERS`): tiny 8 x 16 x 16 -> 3 x 64 x 64 at about a sixth of the
VAE decoder's FLOPs; sd15 4 x 64 x 64 -> 3 x 512 x 512 with TAESD's layout (64 channels, three
blocks per resolution).
"""
from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .configs import get_config

# Per config: channels and residual blocks at each resolution, from the latent's up to the frame's.
FAST_DECODERS = {
    "tiny": dict(channels=(64, 32, 16), blocks=(2, 1, 0)),
    "sd15": dict(channels=(64, 64, 64, 64), blocks=(3, 3, 3, 1)),
}


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class FastDecoder(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, latent_channels: int = 8, out_channels: int = 3, channels: tuple = (64, 32, 16),
                 blocks: tuple = (2, 1, 0), scaling_factor: float = 1.0, vae_digest: str = ""):
        super().__init__()
        if len(channels) != len(blocks) or not channels:
            raise ValueError(f"channels {channels} and blocks {blocks} must name the same resolutions")
        layers: list[nn.Module] = [nn.Conv2d(latent_channels, channels[0], 3, padding=1), nn.ReLU()]
        for i, (ch, n) in enumerate(zip(channels, blocks)):
            if i:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels[i - 1], ch, 3, padding=1),
                           nn.ReLU()]
            layers += [ResidualBlock(ch) for _ in range(n)]
        layers.append(nn.Conv2d(channels[-1], out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (N, C, h, w), as the denoiser makes them -> images (N, 3, H, W), about [-1, 1]."""
        # the VAE decoder sees latents / scaling_factor; folding the scale in keeps one input convention
        return self.net(latents / self.config.scaling_factor)

    @property
    def upscale(self) -> int:
        return 2 ** (len(self.config.channels) - 1)


def build_fast_decoder(config_name: str, vae=None, seed: int = 0) -> FastDecoder:
    """A fresh (random) fast decoder for a config; with `vae`, bound to that VAE (its latent scale
    and digest), else with the config's geometry and an empty digest (speed runs)."""
    from ..train.latents import vae_digest

    cfg = get_config(config_name)["vae"]
    torch.manual_seed(seed)
    dec = FastDecoder(latent_channels=cfg["latent_channels"], out_channels=cfg["out_channels"],
                      scaling_factor=float(vae.config.scaling_factor) if vae is not None else cfg["scaling_factor"],
                      vae_digest=vae_digest(vae) if vae is not None else "", **FAST_DECODERS[config_name])
    if dec.upscale != 2 ** (len(cfg["block_out_channels"]) - 1):
        raise ValueError(f"fast decoder of {config_name}: upsamples {dec.upscale}x, its VAE another factor")
    return dec
