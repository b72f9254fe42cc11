"""Latent codecs behind one interface: frames in [0, 1] <-> model latents (B, C, F, H, W).

``PixelUnshuffleCodec`` is lossless and deterministic (tiny scale); ``WanVAECodec`` wraps diffusers'
``AutoencoderKLWan`` from a local directory and applies Wan's latent normalisation. ``fold_time``
packs per-pixel-frame conditions (first-frame mask, hole mask, Plücker rays) into latent frames the
way Wan's I2V pipeline packs its first-frame mask.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import torch
import torch.nn as nn
import torch.nn.functional as F

logger = logging.getLogger(__name__)


def fold_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Pack pixel frames into latent frames: (B, C, 1 + factor·(F'-1), H, W) -> (B, C·factor, F', H, W).

    The first frame is repeated ``factor`` times (it is a latent frame of its own in Wan's causal VAE),
    then every ``factor`` consecutive frames become channels; for C = 1 this is exactly the layout of
    Wan's I2V first-frame mask.
    """
    if factor == 1:
        return x
    b, c, f, h, w = x.shape
    if (f - 1) % factor:
        raise ValueError(f"fold_time: {f} frames is not 1 + {factor}·k; use 1 + {factor}·k frames")
    x = torch.cat([x[:, :, :1].expand(b, c, factor, h, w), x[:, :, 1:]], dim=2)
    x = x.reshape(b, c, -1, factor, h, w).transpose(2, 3)
    return x.reshape(b, c * factor, -1, h, w)


class LatentCodec(nn.Module, ABC):
    """Frames (B, 3, F, H, W) in [0, 1] <-> latents (B, C, F', H/s, W/s), F' = 1 + (F - 1)/t."""

    channels: int
    spatial_factor: int
    temporal_factor: int

    @abstractmethod
    def encode(self, frames: torch.Tensor, keyframes: bool = False) -> torch.Tensor:
        """Latents of ``frames``; ``keyframes=True`` encodes every frame as an independent image (F' = F)."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] (B, 3, F, H, W) from latents."""

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, F', H', W') of the latents of a (num_frames, height, width) clip; checks divisibility."""
        s, t = self.spatial_factor, self.temporal_factor
        if height % s or width % s:
            raise ValueError(f"frame size {height}x{width} must be a multiple of the codec factor {s}")
        if (num_frames - 1) % t:
            raise ValueError(f"{num_frames} frames is not 1 + {t}·k, which the codec's temporal factor needs")
        return self.channels, 1 + (num_frames - 1) // t, height // s, width // s

    def _check(self, frames: torch.Tensor) -> None:
        if frames.ndim != 5 or frames.shape[1] != 3:
            raise ValueError(f"codec input must be (B, 3, F, H, W) frames in [0, 1], got {tuple(frames.shape)}")
        self.latent_shape(frames.shape[2], frames.shape[3], frames.shape[4])


class PixelUnshuffleCodec(LatentCodec):
    """Lossless codec: pixels mapped to [-1, 1] and folded into channels by ``pixel_unshuffle``."""

    def __init__(self, factor: int = 4):
        super().__init__()
        if factor < 1:
            raise ValueError(f"PixelUnshuffleCodec factor must be >= 1, got {factor}")
        self.spatial_factor = factor
        self.temporal_factor = 1
        self.channels = 3 * factor * factor

    def encode(self, frames: torch.Tensor, keyframes: bool = False) -> torch.Tensor:
        self._check(frames)
        b, _, f, h, w = frames.shape
        x = (frames * 2 - 1).transpose(1, 2).reshape(b * f, 3, h, w)
        z = F.pixel_unshuffle(x, self.spatial_factor)
        return z.reshape(b, f, self.channels, h // self.spatial_factor, w // self.spatial_factor).transpose(1, 2)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = latents.shape
        if c != self.channels:
            raise ValueError(f"PixelUnshuffleCodec.decode: expected {self.channels} channels, got {c}")
        x = F.pixel_shuffle(latents.transpose(1, 2).reshape(b * f, c, h, w), self.spatial_factor)
        x = x.reshape(b, f, 3, h * self.spatial_factor, w * self.spatial_factor).transpose(1, 2)
        return (x + 1) / 2


class WanVAECodec(LatentCodec):
    """diffusers ``AutoencoderKLWan`` with Wan's per-channel latent normalisation ``(z - mean) / std``.

    Encoding takes the posterior mode (Wan's I2V pipeline does the same), so it is deterministic.
    """

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae
        cfg = vae.config
        self.channels = int(cfg.z_dim)
        self.spatial_factor = int(cfg.scale_factor_spatial)
        self.temporal_factor = int(cfg.scale_factor_temporal)
        self.register_buffer("mean", torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1), persistent=False)

    @classmethod
    def from_pretrained(cls, path: str, torch_dtype: torch.dtype = torch.float32) -> "WanVAECodec":
        """Load a local diffusers-layout VAE (the directory itself or its ``vae/`` subfolder); never downloads."""
        from pathlib import Path

        from diffusers import AutoencoderKLWan

        root = Path(path)
        if (root / "vae" / "config.json").is_file():
            root = root / "vae"
        if not (root / "config.json").is_file():
            raise ValueError(f"no Wan VAE at {path}: expected config.json there or in its vae/ subfolder")
        vae = AutoencoderKLWan.from_pretrained(str(root), local_files_only=True, torch_dtype=torch_dtype)
        logger.info("loaded Wan VAE from %s", root)
        return cls(vae.eval())

    def encode(self, frames: torch.Tensor, keyframes: bool = False) -> torch.Tensor:
        if keyframes:
            b, c, f, h, w = frames.shape
            single = frames.transpose(1, 2).reshape(b * f, c, 1, h, w)
            z = self.encode(single)
            return z.reshape(b, f, self.channels, *z.shape[-2:]).transpose(1, 2)
        self._check(frames)
        x = (frames * 2 - 1).to(self.vae.dtype)
        z = self.vae.encode(x).latent_dist.mode()
        return ((z.float() - self.mean) / self.std).to(frames.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = (latents.float() * self.std + self.mean).to(self.vae.dtype)
        x = self.vae.decode(z).sample
        return ((x.float() + 1) / 2).clamp(0, 1)


def build_codec(kind: str, factor: int = 4, path: str | None = None) -> LatentCodec:
    """The codec named in a ``CodecConfig``."""
    if kind == "pixel_unshuffle":
        return PixelUnshuffleCodec(factor)
    if kind == "wan_vae":
        if path is None:
            raise ValueError("codec 'wan_vae' needs a local directory: set codec.path (or pass --model-dir)")
        return WanVAECodec.from_pretrained(path)
    raise ValueError(f"unknown codec kind {kind!r}; choose 'pixel_unshuffle' or 'wan_vae'")
