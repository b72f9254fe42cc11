"""``Ws2Pipeline``: keyframe latents, conditions and sampling around a :class:`Ws2Transformer`.

Inputs are already in the released model's conventions (see ``pipelines/generators/ws2_adapter.py`` for the
conversion from this project's cameras and renders). Every latent is a *keyframe* latent: each frame is
VAE-encoded on its own (1 frame -> 1 latent frame), so F keyframes give F latent frames. Shapes: B batch,
F keyframes, R references, H×W pixels, h×w = H/8 × W/8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .sampling import dmd_timesteps, sample_dmd, sample_unipc
from .transformer import Ws2Transformer


@dataclass
class Ws2Inputs:
    """One video's conditions, in the released conventions."""

    image_u8: np.ndarray
    """(H, W, 3) uint8: the first keyframe"""
    render_video: torch.Tensor
    """[B, 3, F, H, W] in [-1, 1]: cache renders; frame 0 is the input image"""
    render_mask: torch.Tensor
    """[B, 1, F, H, W]: 1 = hole (nothing rendered), frame 0 all 0"""
    plucker: torch.Tensor
    """[B, 6, F, H, W]: Plücker rays (direction, moment), released pixel grid"""
    prompt_embeds: torch.Tensor
    """[B, 512, text_dim]"""
    negative_prompt_embeds: Optional[torch.Tensor] = None
    reference_video: Optional[torch.Tensor] = None
    """[B, 3, R, H, W] in [-1, 1] (memory variants)"""
    ref_index: Optional[torch.Tensor] = None
    """[R] int64: 0-based index i-1 of the target keyframe i that retrieved reference j"""
    camera_qt: Optional[torch.Tensor] = None
    """[B, F, 7]"""
    camera_qt_ref: Optional[torch.Tensor] = None
    """[B, R, 7]"""


class Ws2Pipeline:
    """transformer + Wan VAE + CLIP vision encoder and its processor + sampler settings."""

    def __init__(self, transformer: Ws2Transformer, vae, image_encoder, image_processor, scheduler=None):
        self.transformer, self.vae = transformer, vae
        self.image_encoder, self.image_processor = image_encoder, image_processor
        self.scheduler = scheduler
        self.cfg = transformer.ws2

    # -- encoders --------------------------------------------------------------------------------------------
    def _norm(self, dtype, device) -> tuple:
        c = self.vae.config
        mean = torch.tensor(c.latents_mean).view(1, c.z_dim, 1, 1, 1).to(device, dtype)
        inv_std = 1.0 / torch.tensor(c.latents_std).view(1, c.z_dim, 1, 1, 1).to(device, dtype)
        return mean, inv_std

    def encode_keyframes(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, F, H, W]`` in [-1, 1] -> normalised ``[B, 16, F, h, w]``, one VAE call per frame."""
        video = video.to(self.vae.device, self.vae.dtype)
        z = torch.cat([self.vae.encode(video[:, :, i:i + 1]).latent_dist.mode() for i in range(video.shape[2])], 2)
        mean, inv_std = self._norm(video.dtype, video.device)
        return (z - mean) * inv_std

    def decode_keyframes(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B, 16, F, h, w]`` -> ``[B, 3, F, H, W]`` in [-1, 1], one VAE call per frame."""
        latents = latents.to(self.vae.device, self.vae.dtype)
        mean, inv_std = self._norm(latents.dtype, latents.device)
        z = latents / inv_std + mean
        frames = [self.vae.decode(z[:, :, i:i + 1], return_dict=False)[0] for i in range(z.shape[2])]
        return torch.cat(frames, dim=2).clamp(-1, 1)

    def encode_image(self, image_u8: np.ndarray) -> torch.Tensor:
        """CLIP penultimate hidden states ``[1, N, image_dim]``. The released processor is opened with
        ``do_rescale=False`` and given 0-255 pixels: reproduced, the weights were trained that way."""
        from PIL import Image

        pix = self.image_processor(images=Image.fromarray(image_u8), return_tensors="pt")
        pix = {k: v.to(self.image_encoder.device) for k, v in pix.items()}
        return self.image_encoder(**pix, output_hidden_states=True).hidden_states[-2]

    def condition(self, image_u8: np.ndarray, frames: int, batch: int = 1) -> torch.Tensor:
        """[frame mask (4) | condition latent (16)] ``[B, 20, F, h, w]``."""
        img = torch.from_numpy(np.ascontiguousarray(image_u8)).float().permute(2, 0, 1)[None] / 127.5 - 1.0
        img = img[:, :, None].to(self.vae.device, self.vae.dtype)
        mean, inv_std = self._norm(torch.float32, img.device)
        if self.cfg.latent_cond_mode == "first_frame_only":
            first = (self.vae.encode(img).latent_dist.mode().float() - mean) * inv_std
            grey = (self.vae.encode(torch.zeros_like(img)).latent_dist.mode().float() - mean) * inv_std
            lat = torch.cat([first, grey.repeat(1, 1, frames - 1, 1, 1)], dim=2)
        elif self.cfg.latent_cond_mode == "full_vae":
            video = torch.cat([img, img.new_zeros(*img.shape[:2], 4 * (frames - 1), *img.shape[3:])], dim=2)
            lat = (self.vae.encode(video).latent_dist.mode().float() - mean) * inv_std
        else:
            raise ValueError(f"latent_cond_mode {self.cfg.latent_cond_mode!r} is not first_frame_only or full_vae: "
                             "fix config.json")
        lat = lat.repeat(batch, 1, 1, 1, 1)
        mask = torch.zeros(batch, 4, frames, *lat.shape[3:], device=lat.device, dtype=lat.dtype)
        mask[:, :, 0] = 1.0
        return torch.cat([mask, lat], dim=1)

    # -- sampling --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, x: Ws2Inputs, latents: torch.Tensor, steps: Optional[int] = None,
               guidance: float = 5.0) -> torch.Tensor:
        """Final latents ``[B, 16, F, h, w]`` from the initial noise ``latents``."""
        tf = self.transformer
        dtype = tf.patch_embedding.weight.dtype
        frames = latents.shape[2]
        cond = self.condition(x.image_u8, frames, latents.shape[0]).to(dtype)
        image_embeds = self.encode_image(x.image_u8).repeat(latents.shape[0], 1, 1).to(dtype)
        render_latent = self.encode_keyframes(x.render_video)
        kw = dict(render_latent=render_latent, render_mask=x.render_mask, plucker=x.plucker)
        if self.cfg.memory:
            if x.reference_video is None or x.ref_index is None:
                raise ValueError(f"ws2 {self.cfg.variant} needs reference_video and ref_index")
            ref = self.encode_keyframes(x.reference_video)
            kw.update(reference_latent=torch.cat([ref, torch.ones_like(ref[:, :4]), ref], dim=1),
                      ref_index=x.ref_index, camera_qt=x.camera_qt, camera_qt_ref=x.camera_qt_ref)
        text = {True: x.prompt_embeds.to(dtype),
                False: None if x.negative_prompt_embeds is None else x.negative_prompt_embeds.to(dtype)}

        def velocity(z, t, conditional):
            hidden = torch.cat([z.to(dtype), cond], dim=1)
            return tf(hidden, t, text[conditional], image_embeds, **kw)

        if self.cfg.dmd:
            ts = dmd_timesteps(self.cfg.dmd_start_steps, self.cfg.dmd_end_steps, self.cfg.dmd_steps,
                               self.cfg.gen_shift).to(latents.device)
            return sample_dmd(velocity, latents, ts, self.cfg.dmd_end_steps)
        if self.scheduler is None:
            raise ValueError("ws2 camera/memory need the base model's scheduler (scheduler/scheduler_config.json)")
        if guidance > 1.0 and text[False] is None:
            raise ValueError("guidance > 1 needs negative_prompt_embeds")
        return sample_unipc(velocity, latents.float(), self.scheduler, steps or 40, guidance)
