"""What each training stage trains and the loss it minimises.

A stage is a set of ``nn.Module`` "loss modules" whose ``forward(batch, step_rng)`` returns the loss
dict of one optimisation step; the trainer wraps each in DDP/FSDP (torch's engine) so gradients of
their trainable parameters are averaged across processes. Frozen parts are held outside the
registered submodules (``_frozen``) so the distributed wrappers never see them.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn as nn

from ..models import Conditioning, WorldStereoModel, add_noise, flow_matching_loss
from ..models.losses import dmd_generator_loss, fake_score_loss, pointmap_loss
from ..models.schedulers import dmd_rollout, sample_training_sigma
from ..models.ssm_branch import build_ssm_inputs
from .config import StageConfig
from .data import Batch


def freeze(module: Optional[nn.Module], trainable: bool = False) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(trainable)


def conditioning(model: WorldStereoModel, batch: Batch, camera: bool, ssm: bool) -> Conditioning:
    """Wan I2V condition from frame 0, plus the camera-branch and SSM inputs when asked for."""
    cond = Conditioning(*model.image_condition(batch.video[:, :, 0], batch.video.shape[2]))
    model.add_render_base(cond, batch.render, batch.hole, batch.video[:, :, 0])
    if camera:
        cond.camera = model.camera_condition(batch.render, batch.hole, batch.plucker)
    if ssm and batch.ssm is not None:
        s = batch.ssm
        cond.ssm = build_ssm_inputs(model.codec, s.target_frames, s.references, s.target_pointmaps,
                                    s.reference_pointmaps, s.valid)
    return cond


def generated_mask(x0: torch.Tensor) -> torch.Tensor:
    """Loss mask (1, 1, F, 1, 1) excluding latent frame 0, which the I2V condition gives."""
    m = torch.ones(1, 1, x0.shape[2], 1, 1, dtype=x0.dtype, device=x0.device)
    m[:, :, 0] = 0
    return m


class FlowMatchingLoss(nn.Module):
    """Stages base / camera / ggm / ssm: the flow-matching loss of the conditioned model."""

    def __init__(self, model: WorldStereoModel, camera: bool, ssm: bool, text_dropout: float, shift: float):
        super().__init__()
        self.model = model
        self.camera, self.ssm, self.text_dropout, self.shift = camera, ssm, text_dropout, shift

    def forward(self, batch: Batch, gen: torch.Generator) -> dict[str, torch.Tensor]:
        m = self.model
        x0 = m.codec.encode(batch.video)
        cond = conditioning(m, batch, self.camera, self.ssm)
        noise = torch.randn(x0.shape, generator=gen).to(x0)
        sigma = sample_training_sigma(x0.shape[0], self.shift, gen).to(x0.device)
        uncond = bool(torch.rand((), generator=gen) < self.text_dropout)
        v = m(add_noise(x0, noise, sigma), sigma * m.config.scheduler.num_train_timesteps, cond, uncond).sample
        loss = flow_matching_loss(v, x0, noise, generated_mask(x0))
        return {"loss": loss}


class PoseLoss(nn.Module):
    """Stage pose: JOG3R's ``L_gen + λ L_rec`` at the small diffusion time of the pose head."""

    def __init__(self, model: WorldStereoModel, lambda_rec: float):
        super().__init__()
        self.model, self.lambda_rec = model, lambda_rec

    def forward(self, batch: Batch, gen: torch.Generator) -> dict[str, torch.Tensor]:
        m = self.model
        x0 = m.codec.encode(batch.video)
        cond = conditioning(m, batch, camera=True, ssm=False)
        noise = torch.randn(x0.shape, generator=gen).to(x0)
        # features at σ around t_small (JOG3R reads them at small t), jittered so the head is not brittle
        sigma = (m.config.pose.t_small * (0.5 + torch.rand(x0.shape[0], generator=gen))).to(x0)
        k = m.config.pose.feature_block
        out = m(add_noise(x0, noise, sigma), sigma * m.config.scheduler.num_train_timesteps, cond, capture=(k,))
        l_gen = flow_matching_loss(out.sample, x0, noise, generated_mask(x0))
        pred = m.pointmaps(out.hidden[k], tuple(x0.shape[2:]))
        p = batch.pose
        l_rec = pointmap_loss(pred, p.X11, p.Xf1, p.Xff, p.valid, m.config.pose.conf_alpha)
        train_gen = any(q.requires_grad for q in m.backbone.parameters())
        loss = self.lambda_rec * l_rec + (l_gen if train_gen else 0.0)
        return {"loss": loss, "l_rec": l_rec.detach(), "l_gen": l_gen.detach()}


def generator_sample(model: WorldStereoModel, batch: Batch, gen: torch.Generator, generator: nn.Module):
    """A DMD generator sample x0 with stochastic gradient truncation (gradient through the exit step only
    when grad is enabled); latent frame 0 is the given frame, which the I2V condition fixes.
    Returns (x0, conditioning, exit step)."""
    s = model.config.scheduler
    with torch.no_grad():
        x_real = model.codec.encode(batch.video)
        cond = conditioning(model, batch, camera=True, ssm=False)
    noise = torch.randn(x_real.shape, generator=gen).to(x_real)
    exit_step = int(torch.randint(0, s.dmd_steps, (1,), generator=gen))
    x0 = dmd_rollout(model.velocity_fn(cond, generator), noise, exit_step, s.dmd_steps, s.shift, s.dmd_t_start,
                     s.num_train_timesteps)
    mask = generated_mask(x0)
    return x0 * mask + x_real * (1 - mask), cond, exit_step


class DMDGeneratorLoss(nn.Module):
    """Stage dmd, generator update: Eq. 3 on a few-step sample with stochastic gradient truncation."""

    def __init__(self, model: WorldStereoModel, fake: nn.Module, real_guidance: float):
        super().__init__()
        self.generator = model.dmd_backbone  # the only registered (trainable) part
        self._frozen = (model, fake)
        self.real_guidance = real_guidance

    def forward(self, batch: Batch, gen: torch.Generator) -> dict[str, torch.Tensor]:
        m, fake = self._frozen
        s = m.config.scheduler
        x0, cond, exit_step = generator_sample(m, batch, gen, self.generator)
        sigma = sample_training_sigma(x0.shape[0], s.shift, gen).clamp(0.02, 0.98).to(x0.device)
        eps = torch.randn(x0.shape, generator=gen).to(x0)
        real = m.score_fn(cond, self.real_guidance)
        fake_fn = m.velocity_fn(cond, fake)
        loss = dmd_generator_loss(x0, real, lambda x, t: fake_fn(x, t, False), sigma, eps, s.num_train_timesteps)
        return {"loss": loss, "exit_step": torch.tensor(float(exit_step))}


class DMDFakeLoss(nn.Module):
    """Stage dmd, fake-score update: denoising loss on the generator's current samples."""

    def __init__(self, model: WorldStereoModel, fake: nn.Module):
        super().__init__()
        self.fake = fake
        self._frozen = (model,)

    def forward(self, batch: Batch, gen: torch.Generator) -> dict[str, torch.Tensor]:
        (m,) = self._frozen
        s = m.config.scheduler
        with torch.no_grad():
            x0, cond, _ = generator_sample(m, batch, gen, m.dmd_backbone)
        sigma = sample_training_sigma(x0.shape[0], s.shift, gen).to(x0.device)
        eps = torch.randn(x0.shape, generator=gen).to(x0)
        fake_fn = m.velocity_fn(cond, self.fake)
        loss = fake_score_loss(lambda x, t: fake_fn(x, t, False), x0, eps, sigma, s.num_train_timesteps)
        return {"fake_loss": loss}


def prepare_stage(model: WorldStereoModel, stage: str, cfg: StageConfig) -> dict[str, nn.Module]:
    """Freeze/unfreeze for ``stage`` and return its loss modules: ``{"main": ...}`` (+ ``"fake"`` for dmd)."""
    freeze(model)
    shift = model.config.scheduler.shift
    if stage == "base":
        freeze(model.backbone, True)
        if cfg.with_camera:  # the branch learns beside the backbone from step one (no "sudden convergence")
            if model.camera_branch is None:
                raise ValueError("stage base: with_camera needs a camera branch (config.camera.enabled is False)")
            freeze(model.camera_branch, True)
        return {"main": FlowMatchingLoss(model, cfg.with_camera, False, cfg.text_dropout, shift)}
    if stage in ("camera", "ggm"):
        if model.camera_branch is None:
            raise ValueError(f"stage {stage}: the model has no camera branch (config.camera.enabled is False)")
        if stage == "camera" and model.config.camera.init_from_backbone:
            # ControlNet: the branch starts as a copy of the (now trained) backbone's first blocks
            for i, block in enumerate(model.camera_branch.blocks):
                block.load_state_dict(model.backbone.blocks[i].state_dict())
        freeze(model.camera_branch, True)
        return {"main": FlowMatchingLoss(model, True, False, cfg.text_dropout, shift)}
    if stage == "ssm":
        if model.ssm_branch is None:
            raise ValueError("stage ssm: the model has no SSM branch (config.ssm.enabled is False)")
        freeze(model.ssm_branch, True)
        return {"main": FlowMatchingLoss(model, True, True, cfg.text_dropout, shift)}
    if stage == "dmd":
        if model.dmd_backbone is None:
            model.add_dmd_generator()
        model.config.default_sampler = "dmd"  # the distilled few-step generator is what the bundle runs
        fake = copy.deepcopy(model.backbone)
        freeze(model.dmd_backbone, True)
        freeze(fake, True)
        guidance = cfg.real_guidance if cfg.real_guidance is not None else model.config.scheduler.guidance_scale
        return {"main": DMDGeneratorLoss(model, fake, guidance), "fake": DMDFakeLoss(model, fake)}
    if stage == "pose":
        if model.pose_head is None:
            raise ValueError("stage pose: the model has no pose head (config.pose.enabled is False)")
        freeze(model.pose_head, True)
        if cfg.train_backbone:  # JOG3R fine-tunes the video transformer's attention layers with the head
            for name, p in model.backbone.named_parameters():
                if ".attn1." in name or ".attn2." in name:
                    p.requires_grad_(True)
        return {"main": PoseLoss(model, cfg.lambda_rec)}
    raise ValueError(f"unknown training stage {stage!r}")

