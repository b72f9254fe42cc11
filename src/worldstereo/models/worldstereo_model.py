"""``WorldStereoModel``: codec, Wan I2V backbone, camera/GGM branch, SSM branch and JOG3R pose head in one bundle.

Saved as a directory: ``config.json`` (``ModelConfig``) plus one safetensors file per component
(``backbone``, ``camera_branch``, ``ssm_branch``, ``pose_head``); the Wan VAE codec is referenced by
path, never copied. Nothing is unpickled: weights are read with safetensors only.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..atomic import atomic_path, atomic_write_json
from ..camera import Cameras
from .backbone import BackboneOutput, WanBackbone
from .camera_branch import CameraBranch, camera_condition, camera_condition_channels
from .codecs import LatentCodec, build_codec, fold_time
from .configs import ModelConfig, get_config
from .pose_head import PointmapPrediction, PoseHead
from .registration import register_cameras
from .render_base import render_base_frames
from .schedulers import (
    VelocityFn,
    add_noise,
    dmd_sigmas,
    euler_sigmas,
    guided_velocity,
    sample_dmd,
    sample_euler,
    sample_unipc,
    velocity_from_x,
)
from .ssm_branch import SSMBranch, SSMInputs

logger = logging.getLogger(__name__)

COMPONENTS = ("backbone", "camera_branch", "ssm_branch", "pose_head", "dmd_backbone")


@dataclass
class Conditioning:
    """Every condition of one clip, on the latent grid (B, C, F, H, W) of the model's codec."""

    cond_latent: torch.Tensor  # (B, C, F, H, W) latents of [first frame, grey, ...]
    cond_mask: torch.Tensor  # (B, T, F, H, W) Wan's folded first-frame mask
    text_embeds: torch.Tensor | None = None  # (B, Lt, text_dim) UMT5; None = learned prompt (tiny)
    negative_text_embeds: torch.Tensor | None = None  # (B, Lt, text_dim) for CFG; None = learned null (tiny)
    image_embeds: torch.Tensor | None = None  # (B, 257, image_dim) CLIP tokens (full scale)
    camera: torch.Tensor | None = None  # (B, C + 7T, F, H, W) from ``camera_condition``
    ssm: SSMInputs | None = None
    base: torch.Tensor | None = None  # (B, C, F, H, W) latents of the filled render (x_base = "render")


class WorldStereoModel(nn.Module):
    """The camera-guided, memory-conditioned I2V model at either scale (same code)."""

    def __init__(self, config: ModelConfig, codec: LatentCodec | None = None, backbone: WanBackbone | None = None):
        super().__init__()
        self.config = config
        c = config.codec
        self.codec = codec if codec is not None else build_codec(c.kind, c.factor, c.path)
        if backbone is None:
            backbone = WanBackbone.build(config.backbone, self.codec.channels, self.codec.temporal_factor)
        if backbone.latent_channels != self.codec.channels or backbone.mask_channels != self.codec.temporal_factor:
            raise ValueError(
                f"backbone expects {backbone.latent_channels} latent and {backbone.mask_channels} mask channels but "
                f"the codec gives {self.codec.channels} and {self.codec.temporal_factor}; pick a matching codec"
            )
        self.backbone = backbone
        cam, ssm = config.camera, config.ssm
        self.camera_branch = (CameraBranch(backbone, camera_condition_channels(self.codec), cam.n_layers,
                                           cam.init_from_backbone, cam.dim, cam.num_heads, cam.ffn_dim)
                              if cam.enabled else None)
        self.ssm_branch = (SSMBranch(backbone, ssm.n_layers, ssm.dim, ssm.num_heads, ssm.ffn_dim)
                           if ssm.enabled else None)
        patch = tuple(backbone.transformer.config.patch_size)[1:]
        self.pose_head = (PoseHead(backbone.inner_dim, patch, config.pose) if config.pose.enabled else None)
        # the DMD-distilled few-step generator: a second backbone that shares the (frozen) branches
        self.dmd_backbone = copy.deepcopy(backbone) if config.dmd_generator else None

    def add_dmd_generator(self, backbone: WanBackbone | None = None) -> WanBackbone:
        """Attach a DMD generator backbone (a copy of the teacher's unless given) and record it in the config."""
        self.dmd_backbone = copy.deepcopy(self.backbone) if backbone is None else backbone
        self.config.dmd_generator = True
        return self.dmd_backbone

    @classmethod
    def from_config(cls, config: ModelConfig | str) -> "WorldStereoModel":
        """A freshly initialised model from a ``ModelConfig`` or a named one (``tiny``)."""
        return cls(get_config(config) if isinstance(config, str) else config)

    @classmethod
    def from_wan(cls, model_dir: str | Path, config: ModelConfig | None = None,
                 torch_dtype: torch.dtype = torch.float32) -> "WorldStereoModel":
        """Backbone (and VAE, when ``vae/`` is there) from a local diffusers-layout Wan I2V directory; fresh branches."""
        from .backbone import config_from_transformer
        from .codecs import WanVAECodec

        backbone = WanBackbone.from_diffusers(model_dir, torch_dtype=torch_dtype)
        config = copy.deepcopy(config) if config is not None else get_config("wan2.1-i2v-14b")
        config.backbone = config_from_transformer(backbone.transformer)
        root = Path(model_dir)
        if (root / "vae" / "config.json").is_file():
            config.codec.kind, config.codec.path = "wan_vae", str(root / "vae")
            codec: LatentCodec = WanVAECodec.from_pretrained(str(root / "vae"))
        else:
            codec = build_codec(config.codec.kind, config.codec.factor, config.codec.path)
        logger.info("loaded Wan backbone (%d blocks) from %s; camera/SSM branches and pose head are fresh",
                    len(backbone.blocks), model_dir)
        return cls(config, codec=codec, backbone=backbone)

    # ---- conditions -------------------------------------------------------------------------------
    def image_condition(self, first_frame: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Wan I2V condition for a clip of ``num_frames``: first_frame (B, 3, H, W) in [0, 1] ->
        (cond_latent (B, C, F', H', W'), cond_mask (B, T, F', H', W'))."""
        b, _, h, w = first_frame.shape
        video = torch.full((b, 3, num_frames, h, w), 0.5, dtype=first_frame.dtype, device=first_frame.device)
        video[:, :, 0] = first_frame
        cond_latent = self.codec.encode(video)
        s = self.codec.spatial_factor
        mask = torch.zeros(b, 1, num_frames, h // s, w // s, dtype=cond_latent.dtype, device=cond_latent.device)
        mask[:, :, 0] = 1
        return cond_latent, fold_time(mask, self.codec.temporal_factor)

    def camera_condition(self, render: torch.Tensor, hole_mask: torch.Tensor, plucker: torch.Tensor) -> torch.Tensor:
        """Camera-branch input; see ``camera_branch.camera_condition``."""
        return camera_condition(self.codec, render, hole_mask, plucker)

    def add_render_base(self, cond: Conditioning, render: torch.Tensor, hole: torch.Tensor,
                        first_frame: torch.Tensor, filled: torch.Tensor | None = None) -> Conditioning:
        """Give ``cond`` the x-prediction's base when ``config.x_base == "render"`` (else leave it as is):
        ``cond.base`` = latents of the render (B, 3, F, H, W) with its holes (B, 1, F, H, W, 1 = hole) filled,
        frame 0 the condition image; ``cond.cond_mask`` = 1 on frame 0 and the render's coverage on later
        frames (area-averaged to the latent grid, folded like Wan's mask), so the backbone knows which parts
        of its input are observed and which are fill. ``filled`` (B, 3, F, H, W): the render already filled
        by the caller (the pipeline can pass the ``warp`` backend's frames, whose fills stay consistent from
        frame to frame); its frame 0 is replaced by the condition image too."""
        if self.config.x_base != "render":
            return cond
        if filled is None:
            frames = render_base_frames(render, hole, first_frame)
        else:
            frames = filled.clone()
            frames[:, :, 0] = first_frame.to(frames.dtype)
        cond.base = self.codec.encode(frames)
        s = self.codec.spatial_factor
        b, _, f, h, w = hole.shape
        cover = 1.0 - hole.to(cond.base.dtype)
        cover = torch.nn.functional.avg_pool2d(cover.transpose(1, 2).reshape(b * f, 1, h, w), s)
        cover = cover.reshape(b, f, 1, h // s, w // s).transpose(1, 2).clone()
        cover[:, :, 0] = 1.0
        cond.cond_mask = fold_time(cover, self.codec.temporal_factor)
        return cond

    def x_base(self, cond: Conditioning) -> torch.Tensor | None:
        """The base added to the backbone's x̂0: ``cond.base``, else the I2V condition latent (the first frame,
        grey after it), so a call without a render still gets a defined model."""
        if self.config.x_base != "render":
            return None
        return cond.base if cond.base is not None else cond.cond_latent

    # ---- forward ----------------------------------------------------------------------------------
    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, cond: Conditioning, uncond: bool = False,
                capture: tuple[int, ...] = (), backbone: WanBackbone | None = None) -> BackboneOutput:
        """Velocity (B, C, F, H, W) for noisy latents at ``timestep`` (B,) in [0, 1000].

        ``uncond`` swaps the text for the negative/null prompt (CFG); branches act in both passes.
        ``backbone`` replaces the teacher's (the DMD generator, or the fake score in DMD training); the
        camera and SSM branches are the same either way.
        """
        bb = self.backbone if backbone is None else backbone
        text = cond.negative_text_embeds if uncond else cond.text_embeds
        base = self.x_base(cond) if self.config.prediction == "x" else None
        # with a render base, the I2V condition channels carry it (frame 0 is the image either way), so the
        # backbone sees the guess it corrects from its patch embedding on
        cond_latent = cond.cond_latent if base is None else base
        state = bb.embed(noisy, timestep, cond_latent, cond.cond_mask, text, cond.image_embeds, uncond)
        residuals: dict[int, torch.Tensor] = {}
        branches = []
        if cond.camera is not None:
            if self.camera_branch is None:
                raise ValueError("a camera condition was given but this model has no camera branch")
            branches.append(self.camera_branch(bb, state, cond.camera))
        if cond.ssm is not None:
            if self.ssm_branch is None:
                raise ValueError("SSM inputs were given but this model has no SSM branch")
            branches.append(self.ssm_branch(bb, state, noisy, cond.ssm))
        for res in branches:
            for k, v in res.items():
                residuals[k] = residuals[k] + v if k in residuals else v
        tokens, hidden = bb.run_blocks(state, residuals, capture)
        out = bb.project_out(tokens, state)
        if self.config.prediction == "x":
            if base is not None:
                if self.config.x_correct == "holes" and cond.base is not None:
                    # coverage of each latent pixel by the render (1 on frame 0): corrections go to the holes
                    out = out * (1 - cond.cond_mask.mean(1, keepdim=True).to(out.dtype))
                out = out + base.to(out.dtype)
            out = velocity_from_x(noisy, out, timestep / self.config.scheduler.num_train_timesteps,
                                  self.config.x_sigma_min)
        return BackboneOutput(out, hidden)

    def velocity_fn(self, cond: Conditioning, backbone: WanBackbone | None = None) -> VelocityFn:
        """``(x, timestep, uncond) -> v`` with the conditions bound, for the samplers."""
        return lambda x, t, uncond: self(x, t, cond, uncond, backbone=backbone).sample

    def score_fn(self, cond: Conditioning,
                 guidance_scale: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, timestep) -> v`` with CFG inside, for the DMD losses (real score: the teacher's guidance scale)."""
        fn = self.velocity_fn(cond)
        return lambda x, t: guided_velocity(fn, x, t, guidance_scale)

    # ---- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, cond: Conditioning, noise: torch.Tensor, sampler: str = "euler", steps: int | None = None,
                 guidance_scale: float | None = None,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        """Clean latents from ``noise`` (B, C, F, H, W): ``euler``/``unipc`` teacher with CFG, or ``dmd`` (4 steps;
        the distilled generator backbone when the bundle has one, else the teacher on the DMD grid).
        ``callback(step, x)`` runs after every sampling step (progress display)."""
        s = self.config.scheduler
        fn = self.velocity_fn(cond, self.dmd_backbone if sampler == "dmd" else None)
        g = s.guidance_scale if guidance_scale is None else guidance_scale
        if sampler == "euler":
            return sample_euler(fn, noise, steps or s.teacher_steps, g, s.shift, s.num_train_timesteps, callback)
        if sampler == "unipc":
            return sample_unipc(fn, noise, steps or s.teacher_steps, g, s.shift, s.num_train_timesteps, callback)
        if sampler == "dmd":
            return sample_dmd(fn, noise, steps or s.dmd_steps, s.shift, s.dmd_t_start, s.num_train_timesteps, callback)
        raise ValueError(f"unknown sampler {sampler!r}; choose 'euler', 'unipc' or 'dmd'")

    # ---- pose head (JOG3R) ------------------------------------------------------------------------
    def _require_pose_head(self) -> PoseHead:
        if self.pose_head is None:
            raise ValueError("this model has no pose head (config.pose.enabled is False)")
        return self.pose_head

    def pointmaps(self, hidden: torch.Tensor, latent_size: tuple[int, int, int]) -> PointmapPrediction:
        """Pose-head pointmaps at latent resolution from the feature block's (B, L, D) output."""
        head = self._require_pose_head()
        p_t, p_h, p_w = self.backbone.transformer.config.patch_size
        f, h, w = latent_size
        return head(hidden, (f // p_t, h // p_h, w // p_w))

    def video_to_pointmaps(self, latents: torch.Tensor, cond: Conditioning,
                           noise: torch.Tensor | None = None) -> PointmapPrediction:
        """V2C: noise clean latents (B, C, F, H, W) to σ = t_small, one backbone pass, pose head."""
        sigma = torch.full((latents.shape[0],), self.config.pose.t_small, device=latents.device)
        noise = torch.randn_like(latents) if noise is None else noise
        k = self.config.pose.feature_block
        out = self(add_noise(latents, noise, sigma), sigma * self.config.scheduler.num_train_timesteps, cond,
                   capture=(k,))
        return self.pointmaps(out.hidden[k], tuple(latents.shape[2:]))

    def estimate_cameras(self, latents: torch.Tensor, cond: Conditioning, width: int, height: int,
                         noise: torch.Tensor | None = None, K=None) -> list[Cameras]:
        """V2C cameras per batch item, one per latent frame, world = frame 0's camera; ``K`` (3, 3):
        known intrinsics of ``width`` x ``height`` images (else the focal is estimated)."""
        with torch.no_grad():
            pred = self.video_to_pointmaps(latents, cond, noise)
        return [register_cameras(pred, width, height, i, K) for i in range(latents.shape[0])]

    @torch.no_grad()
    def generate_with_cameras(self, cond: Conditioning, noise: torch.Tensor, width: int, height: int,
                              sampler: str = "euler", steps: int | None = None,
                              guidance_scale: float | None = None) -> tuple[torch.Tensor, list[Cameras]]:
        """Generate + camera in one go: the feature block is captured during the conditional pass of the
        sampling step whose σ is nearest ``t_small``, so the cameras cost no extra backbone pass."""
        s = self.config.scheduler
        n = steps or (s.dmd_steps if sampler == "dmd" else s.teacher_steps)
        if sampler == "dmd":
            grid = dmd_sigmas(n, s.shift, s.dmd_t_start, s.num_train_timesteps)[:-1]
        elif sampler == "euler":
            grid = euler_sigmas(n, s.shift)[:-1]
        else:
            raise ValueError(f"generate_with_cameras supports the 'euler' and 'dmd' samplers, not {sampler!r}")
        target_t = float(grid[(grid - self.config.pose.t_small).abs().argmin()]) * s.num_train_timesteps
        k = self.config.pose.feature_block
        captured: dict[str, torch.Tensor] = {}

        def fn(x: torch.Tensor, t: torch.Tensor, uncond: bool) -> torch.Tensor:
            grab = not uncond and "hidden" not in captured and abs(float(t[0]) - target_t) < 1e-3 * s.num_train_timesteps
            out = self(x, t, cond, uncond, capture=(k,) if grab else ())
            if grab:
                captured["hidden"] = out.hidden[k]
            return out.sample

        g = s.guidance_scale if guidance_scale is None else guidance_scale
        if sampler == "dmd":
            latents = sample_dmd(fn, noise, n, s.shift, s.dmd_t_start, s.num_train_timesteps)
        else:
            latents = sample_euler(fn, noise, n, g, s.shift, s.num_train_timesteps)
        pred = self.pointmaps(captured["hidden"], tuple(noise.shape[2:]))
        return latents, [register_cameras(pred, width, height, i) for i in range(noise.shape[0])]

    # ---- persistence ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``<component>.safetensors`` for every present component."""
        from safetensors.torch import save_file

        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            module = getattr(self, name)
            if module is None:
                continue
            tensors = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
            with atomic_path(root / f"{name}.safetensors") as tmp:
                save_file(tensors, str(tmp), metadata={"format": "pt", "component": name})
        atomic_write_json(root / "config.json", self.config.to_dict())
        logger.info("saved WorldStereo model %r to %s", self.config.name, root)

    @classmethod
    def from_pretrained(cls, directory: str | Path, torch_dtype: torch.dtype | None = None) -> "WorldStereoModel":
        """Rebuild from ``save_pretrained`` output (safetensors only; strict key matching)."""
        from safetensors.torch import load_file

        root = Path(directory)
        cfg_path = root / "config.json"
        if not cfg_path.is_file():
            raise ValueError(f"no WorldStereo model at {root}: config.json is missing")
        from accelerate import init_empty_weights

        config = ModelConfig.from_dict(json.loads(cfg_path.read_text()))
        codec = build_codec(config.codec.kind, config.codec.factor, config.codec.path)
        # Parameters start on the meta device and are replaced by the stored tensors, so a 14B model is not
        # first initialised at random; buffers (RoPE tables, codec statistics) are computed as usual.
        with init_empty_weights(include_buffers=False):
            model = cls(config, codec=codec)
        for name in COMPONENTS:
            module = getattr(model, name)
            if module is None:
                continue
            path = root / f"{name}.safetensors"
            if not path.is_file():
                raise ValueError(f"{path} is missing; the config enables the {name} but its weights are not there")
            # fresh (aligned) copies: tensors sliced out of the file buffer can take other SIMD kernel paths,
            # which breaks bitwise reproducibility against the saved model
            state = {k: v.clone() for k, v in load_file(str(path)).items()}
            module.load_state_dict(state, strict=True, assign=True)
        empty = [n for n, p in model.named_parameters() if p.is_meta]
        if empty:
            raise ValueError(f"{root}: no stored weights for {empty[:3]}...; the files do not match config.json")
        if torch_dtype is not None:
            model.to(torch_dtype)
        logger.info("loaded WorldStereo model %r from %s", model.config.name, root)
        return model.eval()
