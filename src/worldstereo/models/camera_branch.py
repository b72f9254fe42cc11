"""Camera / GGM branch: a ControlNet (Uni3C style) fed with the Cache3D render, its hole mask and Plücker rays.

Built from the backbone the way diffusers' ``SD3ControlNetModel`` is built from its transformer: the
branch reads the backbone's embedded tokens plus its own patch embedding of the condition, runs
``n_layers`` Wan blocks, and after its block j adds a zero-initialised linear projection of its tokens
to the output of backbone block j. The branch may be narrower than the backbone (Uni3C: width 1024
beside 5120, from scratch; see ``branch.py``); at the backbone's width its blocks can start as copies of
the backbone's first blocks. Zero initialisation makes a fresh branch an exact no-op (tested).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import BackboneState, WanBackbone
from .branch import BranchWidth
from .codecs import LatentCodec, fold_time


def camera_condition_channels(codec: LatentCodec) -> int:
    """Channels of ``camera_condition``: render latents + folded hole mask + folded Plücker rays."""
    return codec.channels + 7 * codec.temporal_factor


def camera_condition(codec: LatentCodec, render: torch.Tensor, hole_mask: torch.Tensor,
                     plucker: torch.Tensor) -> torch.Tensor:
    """Camera-branch input (B, C + 7T, F', H', W') from pixel-space conditions.

    render: (B, 3, F, H, W) Cache3D render in [0, 1]; hole_mask: (B, 1, F, H, W), 1 = hole;
    plucker: (B, 6, F, H, W) ``[d, o x d]`` rays (``worldstereo.camera.plucker_rays``). Mask and rays
    are area-averaged to the latent grid and folded in time like Wan's first-frame mask.
    """
    b, _, f, h, w = render.shape
    if hole_mask.shape != (b, 1, f, h, w) or plucker.shape != (b, 6, f, h, w):
        raise ValueError(
            f"camera condition: render {tuple(render.shape)} needs hole_mask (B,1,F,H,W) and plucker (B,6,F,H,W), "
            f"got {tuple(hole_mask.shape)} and {tuple(plucker.shape)}"
        )
    s, t = codec.spatial_factor, codec.temporal_factor
    latents = codec.encode(render)

    def pool(x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        y = F.avg_pool2d(x.transpose(1, 2).reshape(b * f, c, h, w).to(latents.dtype), s)
        return fold_time(y.reshape(b, f, c, h // s, w // s).transpose(1, 2), t)

    return torch.cat([latents, pool(hole_mask), pool(plucker)], dim=1)


class CameraBranch(nn.Module):
    """ControlNet over the backbone: returns per-block residuals {block index: (B, L, D)}."""

    def __init__(self, backbone: WanBackbone, cond_channels: int, n_layers: int, init_from_backbone: bool = True,
                 dim: int | None = None, num_heads: int | None = None, ffn_dim: int | None = None):
        super().__init__()
        if n_layers < 1 or n_layers > len(backbone.blocks):
            raise ValueError(f"camera branch n_layers must be in 1..{len(backbone.blocks)}, got {n_layers}")
        self.width = BranchWidth(backbone, dim, num_heads, ffn_dim, where="camera branch")
        if init_from_backbone and not self.width.same:
            raise ValueError(f"camera branch: init_from_backbone copies backbone blocks and needs the backbone's width "
                             f"{backbone.inner_dim}, got dim={self.width.dim}; set init_from_backbone=False or dim=None")
        patch = tuple(backbone.transformer.config.patch_size)
        self.cond_channels = cond_channels
        self.cond_embedding = nn.Conv3d(cond_channels, self.width.dim, kernel_size=patch, stride=patch)
        if init_from_backbone:
            self.blocks = nn.ModuleList([copy.deepcopy(backbone.blocks[i]) for i in range(n_layers)])
        else:
            self.blocks = nn.ModuleList([self.width.new_block() for _ in range(n_layers)])
        self.inject_blocks = list(range(n_layers))
        self.projections = nn.ModuleList([self.width.out_projection() for _ in range(n_layers)])

    def forward(self, backbone: WanBackbone, state: BackboneState, condition: torch.Tensor) -> dict[int, torch.Tensor]:
        """condition: (B, cond_channels, F, H, W) from ``camera_condition``, on the backbone's latent grid."""
        if condition.shape[1] != self.cond_channels or tuple(condition.shape[2:]) != state.latent_size:
            raise ValueError(
                f"camera condition must be (B, {self.cond_channels}, {', '.join(map(str, state.latent_size))}), "
                f"got {tuple(condition.shape)}"
            )
        cond = self.cond_embedding(condition.to(state.tokens.dtype)).flatten(2).transpose(1, 2)
        x = self.width.tokens(state.tokens) + cond
        inputs = self.width.inputs(state)
        rotary = None if self.width.same else self.width.rotary(backbone, *state.grid, x)
        residuals = {}
        for block, proj, target in zip(self.blocks, self.projections, self.inject_blocks):
            x = backbone.run_block(block, x, state, context=inputs.context, timestep_proj=inputs.timestep_proj,
                                   rotary=rotary)
            residuals[target] = proj(x)
        return residuals
