"""Everything a FADA generator is made of, saved and loaded as one folder.

    FOLDER/fada.json            config name, noise schedule, which audio encoder
    FOLDER/denoiser/            FadaDenoiser (diffusers save_pretrained: config.json + safetensors)
    FOLDER/reference_net/       ReferenceNet
    FOLDER/vae/                 AutoencoderKL
    FOLDER/audio_encoder/       MelAudioEncoder (synthetic world); the real world's wav2vec2 is the
                                user's local folder, named in fada.json or given at load time
    FOLDER/fast_decoder/        optional: a FastDecoder distilled from this VAE (fada.models.fast_decoder)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from ..data.io import write_text_atomic
from ..errors import InputError
from .audio import MelAudioEncoder, Wav2Vec2AudioEncoder
from .configs import get_config
from .denoiser import FadaDenoiser, ReferenceNet, load_sd15_unet_weights
from .fast_decoder import FastDecoder

# The noise schedule of each config (one choice serves the teacher's DDIM and the PeRFlow students).
# tiny: v-prediction on DDPM's linear betas (an epsilon target leaves the noisiest steps, where
# the identity's colours are set, almost unweighted; docs/training.md); sd15: SD's own schedule.
SCHEDULES = {
    "tiny": dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                 prediction_type="v_prediction"),
    "sd15": dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 prediction_type="epsilon"),
}


@dataclass
class FadaModels:
    config_name: str
    denoiser: FadaDenoiser
    reference_net: ReferenceNet
    vae: AutoencoderKL
    audio_encoder: torch.nn.Module
    schedule: dict = field(default_factory=dict)
    audio_source: str = "mel"
    size: int | None = None      # frame size in pixels when not the config's (speed runs at another size)
    fast_decoder: FastDecoder | None = None     # the VAE decoder's distilled stand-in, where one is attached

    def networks(self) -> list[torch.nn.Module]:
        return [m for m in (self.denoiser, self.reference_net, self.vae, self.audio_encoder, self.fast_decoder)
                if m is not None]

    @property
    def frames(self) -> int:
        return get_config(self.config_name)["frames"]

    @property
    def motion_frames(self) -> int:
        return get_config(self.config_name)["motion_frames"]

    @property
    def resolution(self) -> int:
        return self.size or get_config(self.config_name)["resolution"]

    def size_step(self) -> int:
        """Frame sizes must be multiples of this: the VAE's downsampling times the UNet's."""
        vae = 2 ** (len(self.vae.config.block_out_channels) - 1)
        unet = 2 ** (len(self.denoiser.unet.config.block_out_channels) - 1)
        return vae * unet

    def to(self, device=None, dtype=None) -> "FadaModels":
        from diffusers.utils import logging as diffusers_logging

        # diffusers warns on every dtype cast of a ModelMixin that none of its modules must stay in
        # float32 ("[]"); nothing to act on, so it is silenced for the cast.
        level = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
        try:
            for m in self.networks():
                m.to(device=device)
                if dtype is not None and dtype != next(m.parameters()).dtype:
                    m.to(dtype=dtype)
        finally:
            diffusers_logging.set_verbosity(level)
        return self

    def eval(self) -> "FadaModels":
        for m in self.networks():
            m.eval()
        return self

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.denoiser.save_pretrained(folder / "denoiser")
        self.reference_net.save_pretrained(folder / "reference_net")
        self.vae.save_pretrained(folder / "vae")
        if isinstance(self.audio_encoder, MelAudioEncoder):
            self.audio_encoder.save_pretrained(folder / "audio_encoder")
        if self.fast_decoder is not None:
            self.fast_decoder.save_pretrained(folder / "fast_decoder")
        write_text_atomic(folder / "fada.json", json.dumps(
            {"config": self.config_name, "schedule": self.schedule, "audio": self.audio_source}, indent=1) + "\n")


def build_models(config_name: str = "tiny", cfg_mode: str = "none", wav2vec2_path: str | None = None,
                 seed: int = 0, untrained_audio: bool = False) -> FadaModels:
    """Fresh models at a config (random weights; speed does not depend on the values).
    `untrained_audio`: a random-weight wav2vec2 of the base geometry where the config needs one."""
    cfg = get_config(config_name)
    torch.manual_seed(seed)
    schedule = dict(SCHEDULES[config_name])
    denoiser = FadaDenoiser(cfg["unet"], audio_dim=cfg["audio_dim"], audio_layers=cfg["audio_layers"],
                            audio_window=cfg["audio_window"], audio_tokens_per_frame=cfg["audio_tokens_per_frame"],
                            temporal_heads=cfg["temporal_heads"], cfg_mode=cfg_mode, cfg_tokens=cfg["cfg_tokens"],
                            prediction_type=schedule["prediction_type"])
    reference_net = ReferenceNet(cfg["unet"])
    vae = AutoencoderKL(**cfg["vae"])
    if cfg["audio"] == "mel":
        audio, source = MelAudioEncoder(dim=cfg["audio_dim"]), "mel"
    elif untrained_audio and wav2vec2_path is None:
        audio, source = Wav2Vec2AudioEncoder.untrained(cfg["audio_layers"]), "wav2vec2-untrained"
    else:
        if wav2vec2_path is None:
            raise InputError(f"the {config_name} config needs a local wav2vec2 folder (wav2vec2_path)")
        audio, source = Wav2Vec2AudioEncoder(wav2vec2_path, cfg["audio_layers"]), str(wav2vec2_path)
    return FadaModels(config_name, denoiser, reference_net, vae, audio, schedule, source)


def from_sd15(sd15_path: str | os.PathLike, wav2vec2_path: str | os.PathLike | None = None, cfg_mode: str = "none",
              config_name: str = "sd15") -> FadaModels:
    """The real-world teacher's starting point: both UNets and the VAE from a local diffusers SD 1.5
    folder, wav2vec2 from a local folder; the added layers keep their initialisation.
    (`config_name` lets a test run the same path on a tiny folder it writes itself.)"""
    sd15_path = Path(sd15_path)
    models = build_models(config_name, cfg_mode, wav2vec2_path=None if wav2vec2_path is None else str(wav2vec2_path))
    load_sd15_unet_weights(models.denoiser, sd15_path)
    load_sd15_unet_weights(models.reference_net, sd15_path)
    vae_dir = sd15_path / "vae"
    if not (vae_dir / "config.json").is_file():
        raise InputError(f"no diffusers VAE in {sd15_path} (looked for {vae_dir / 'config.json'})")
    models.vae = AutoencoderKL.from_pretrained(vae_dir, local_files_only=True)
    return models


def load_models(folder: str | os.PathLike, wav2vec2_path: str | None = None) -> FadaModels:
    folder = Path(folder)
    meta_path = folder / "fada.json"
    if not meta_path.is_file():
        raise InputError(f"no FADA checkpoint in {folder} (looked for {meta_path}); train one with "
                         "`fada-bench train RECIPE` or fetch the shipped weights (`fada-bench weights list`)")
    meta = json.loads(meta_path.read_text())
    denoiser = FadaDenoiser.from_pretrained(folder / "denoiser")
    reference_net = ReferenceNet.from_pretrained(folder / "reference_net")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    if meta.get("audio", "mel") == "mel":
        audio, source = MelAudioEncoder.from_pretrained(folder / "audio_encoder"), "mel"
    else:
        path = wav2vec2_path or meta["audio"]
        audio, source = Wav2Vec2AudioEncoder(path, get_config(meta["config"])["audio_layers"]), str(path)
    fast = FastDecoder.from_pretrained(folder / "fast_decoder") if (folder / "fast_decoder").is_dir() else None
    return FadaModels(meta["config"], denoiser, reference_net, vae, audio, meta.get("schedule", {}), source,
                      fast_decoder=fast)


# ----------------------------------------------------------------------------- VAE helpers

def encode_images(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) in [-1, 1] -> scaled latents (..., C, h, w), the posterior mean."""
    lead = images.shape[:-3]
    lat = vae.encode(images.reshape(-1, *images.shape[-3:]).to(vae.dtype)).latent_dist.mean
    lat = lat * vae.config.scaling_factor
    return lat.reshape(*lead, *lat.shape[1:])


def decode_latents(decoder: AutoencoderKL | FastDecoder, latents: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """(..., C, h, w) scaled latents -> images (..., 3, H, W) in [-1, 1], decoded `chunk` at a time,
    by the VAE's decoder or by a FastDecoder distilled from it (which takes the scaled latents)."""
    lead = latents.shape[:-3]
    flat = latents.reshape(-1, *latents.shape[-3:])
    if isinstance(decoder, FastDecoder):
        out = torch.cat([decoder(flat[i:i + chunk].to(decoder.dtype)) for i in range(0, flat.shape[0], chunk)])
    else:
        flat = flat / decoder.config.scaling_factor
        out = torch.cat([decoder.decode(flat[i:i + chunk].to(decoder.dtype)).sample
                         for i in range(0, flat.shape[0], chunk)])
    return out.clamp(-1, 1).reshape(*lead, *out.shape[1:])
