"""Spatial-Stereo Memory branch: attention restricted to stitched target|reference pairs (paper §3.3, Fig. 3).

For P pairs, the target latent (the noisy latent at the pair's frame) and the reference latent (a bank
frame encoded on its own) each get their pointmap latent added (``z_ssm = z_stitch + ẑ_pm``), are
patch-embedded and stitched along the width; tokens are arranged as (B·P, h·2w, D) so every Wan
block attends within one pair only. After each block the target half goes through a zero-initialised
projection and is added to the main tokens of the pair's frame in one backbone block (blocks spread
evenly over the backbone). A missing reference is a learned null token sequence; ``reference_valid``
says which pairs have one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .backbone import BackboneState, WanBackbone
from .branch import BranchWidth
from .codecs import LatentCodec


@dataclass
class SSMInputs:
    """Per-pair inputs of the SSM branch (P pairs, latent grid H × W)."""

    target_frames: torch.Tensor  # (P,) long: latent frame index of each pair's target
    reference_latents: torch.Tensor  # (B, C, P, H, W): each reference encoded as an independent image
    target_pointmaps: torch.Tensor  # (B, C, P, H, W): latents of the colour-coded target pointmaps
    reference_pointmaps: torch.Tensor  # (B, C, P, H, W): latents of the colour-coded reference pointmaps
    reference_valid: torch.Tensor | None = None  # (B, P) bool; False = no reference (dropped or not found)

    def __post_init__(self) -> None:
        p = int(self.target_frames.numel())
        shape = self.reference_latents.shape
        for name in ("reference_latents", "target_pointmaps", "reference_pointmaps"):
            x = getattr(self, name)
            if x.ndim != 5 or x.shape != shape or x.shape[2] != p:
                raise ValueError(f"SSMInputs.{name} must be (B, C, P={p}, H, W) like reference_latents, "
                                 f"got {tuple(x.shape)}")
        if len(set(self.target_frames.tolist())) != p:
            raise ValueError(f"SSMInputs.target_frames must be distinct frames, got {self.target_frames.tolist()}")
        if self.reference_valid is not None and tuple(self.reference_valid.shape) != (shape[0], p):
            raise ValueError(f"SSMInputs.reference_valid must be (B, P) = ({shape[0]}, {p}), "
                             f"got {tuple(self.reference_valid.shape)}")


def pair_frames(num_frames: int, stride: int = 4) -> torch.Tensor:
    """Latent frames that get a reference: every ``stride``-th frame after the (given) first one."""
    return torch.arange(stride, num_frames, stride) if num_frames > stride else torch.tensor([num_frames - 1])


def spread_blocks(n_branch: int, n_main: int) -> list[int]:
    """Backbone blocks that receive the branch's layers, evenly spread (20 of 40 -> every other block)."""
    return [(j * n_main) // n_branch for j in range(n_branch)]


class SSMBranch(nn.Module):
    """Pair-restricted ControlNet branch; returns per-block residuals {block index: (B, L, D)}."""

    def __init__(self, backbone: WanBackbone, n_layers: int, dim: int | None = None, num_heads: int | None = None,
                 ffn_dim: int | None = None):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"SSM branch n_layers must be >= 1, got {n_layers}")
        cfg = backbone.transformer.config
        if cfg.patch_size[0] != 1:
            raise ValueError("the SSM branch pairs single latent frames and needs a temporal patch size of 1")
        self.width = BranchWidth(backbone, dim, num_heads, ffn_dim, where="SSM branch")
        dim, c = self.width.dim, backbone.latent_channels
        self.patch = (1, cfg.patch_size[1], cfg.patch_size[2])
        self.embedding = nn.Conv3d(c, dim, kernel_size=self.patch, stride=self.patch)
        self.null_reference = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([self.width.new_block() for _ in range(n_layers)])
        self.projections = nn.ModuleList([self.width.out_projection() for _ in range(n_layers)])
        self.inject_blocks = spread_blocks(n_layers, len(backbone.blocks))

    def _embed(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, P, H, W) -> (B, P, h, w, D) patch tokens."""
        x = self.embedding(z)
        return x.permute(0, 2, 3, 4, 1)

    def forward(self, backbone: WanBackbone, state: BackboneState, noisy: torch.Tensor,
                inputs: SSMInputs) -> dict[int, torch.Tensor]:
        """noisy: (B, C, F, H, W) the backbone's noisy latents; the targets are its frames ``target_frames``."""
        frames = inputs.target_frames.to(noisy.device)
        f, h, w = state.grid
        if int(frames.max()) >= f or int(frames.min()) < 0:
            raise ValueError(f"SSM target_frames {frames.tolist()} out of range for {f} latent frames")
        dtype = state.tokens.dtype
        tar = self._embed((noisy[:, :, frames] + inputs.target_pointmaps).to(dtype))
        ref = self._embed((inputs.reference_latents + inputs.reference_pointmaps).to(dtype))
        b, p = tar.shape[:2]
        if inputs.reference_valid is not None:
            valid = inputs.reference_valid.to(ref.device)[:, :, None, None, None]
            ref = torch.where(valid, ref, self.null_reference.to(dtype).expand_as(ref))
        x = torch.cat([tar, ref], dim=3).reshape(b * p, h * 2 * w, -1)
        rotary = self.width.rotary(backbone, 1, h, 2 * w, x)
        inputs = self.width.inputs(state)
        context = inputs.context.repeat_interleave(p, dim=0)
        timestep_proj = inputs.timestep_proj.repeat_interleave(p, dim=0)
        residuals = {}
        for block, proj, target in zip(self.blocks, self.projections, self.inject_blocks):
            x = backbone.run_block(block, x, state, context=context, timestep_proj=timestep_proj, rotary=rotary)
            target_half = x.reshape(b, p, h, 2 * w, -1)[:, :, :, :w].reshape(b, p, h * w, -1)
            out = x.new_zeros(b, f, h * w, self.width.backbone_dim).index_copy(1, frames, proj(target_half))
            out = out.reshape(b, f * h * w, -1)
            residuals[target] = residuals[target] + out if target in residuals else out
        return residuals


def build_ssm_inputs(codec: LatentCodec, target_frames: torch.Tensor, references: torch.Tensor,
                     target_pointmaps: torch.Tensor, reference_pointmaps: torch.Tensor,
                     reference_valid: torch.Tensor | None = None) -> SSMInputs:
    """Encode the SSM conditions of P pairs with ``codec``; every image is encoded on its own (keyframes).

    target_frames: (P,) latent frames; references: (B, 3, P, H, W) bank frames in [0, 1];
    target_pointmaps, reference_pointmaps: (B, 3, P, H, W) colour-coded world points in [0, 1] as
    ``worldstereo.memory.pointmaps`` makes them (one normalisation shared by targets and references,
    so one colour is one place in the scene; holes 0); reference_valid: (B, P) bool pair validity.
    """
    return SSMInputs(
        target_frames=target_frames,
        reference_latents=codec.encode(references, keyframes=True),
        target_pointmaps=codec.encode(target_pointmaps, keyframes=True),
        reference_pointmaps=codec.encode(reference_pointmaps, keyframes=True),
        reference_valid=reference_valid,
    )
