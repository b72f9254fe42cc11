"""What the two ControlNet branches share: their width, their Wan blocks and their zero-initialised outputs.

A branch runs Wan blocks of its own width next to the backbone. Uni3C's camera ControlNet is such a
*lightweight* branch: 20 blocks of width 1024 (16 heads) beside Wan2.1-14B's 40 blocks of width 5120,
trained from scratch. A branch narrower than the backbone gets its inputs mapped to its width:

- the backbone's embedded tokens through ``token_proj`` (D -> d),
- the text/image context through ``context_proj`` (D -> d),
- its own time modulation ``time_proj`` (SiLU then D -> 6·d) from the backbone's time embedding, as
  Wan's own ``condition_embedder`` does at width D,
- 3-D RoPE for its head size,

and its per-block outputs return to width D through zero-initialised projections, so a fresh branch
is an exact no-op at any width (tested). At the backbone's width (``dim=None``) no mapping exists and
the branch reuses the backbone's context, modulation and RoPE, which also allows initialising its
blocks as copies of the backbone's (classic ControlNet).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .backbone import BackboneState, WanBackbone


def zero_linear(dim_in: int, dim_out: int) -> nn.Linear:
    """A linear layer whose output is exactly zero until it is trained (ControlNet's zero convolution)."""
    layer = nn.Linear(dim_in, dim_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


@dataclass
class BranchInputs:
    """Per-forward inputs of a branch's blocks at the branch's width."""

    context: torch.Tensor  # (B, Lc, d)
    timestep_proj: torch.Tensor  # (B, 6, d)


class BranchWidth(nn.Module):
    """Width of a branch and the maps between it and the backbone (none at the backbone's own width)."""

    def __init__(self, backbone: WanBackbone, dim: int | None = None, num_heads: int | None = None,
                 ffn_dim: int | None = None, where: str = "branch"):
        super().__init__()
        c = backbone.transformer.config
        big = self.backbone_dim = backbone.inner_dim
        self.dim = big if dim is None else int(dim)
        self.num_heads = (c.num_attention_heads if dim is None else max(1, self.dim // c.attention_head_dim)) \
            if num_heads is None else int(num_heads)
        if self.dim < 1 or self.num_heads < 1 or self.dim % self.num_heads:
            raise ValueError(f"{where}: dim {self.dim} must be a positive multiple of num_heads {self.num_heads}")
        self.head_dim = self.dim // self.num_heads
        if self.head_dim % 2:
            raise ValueError(f"{where}: head size dim/num_heads = {self.head_dim} must be even for RoPE")
        # the backbone's FFN ratio at the branch's width, rounded to a multiple of 64
        self.ffn_dim = int(ffn_dim) if ffn_dim is not None else (
            c.ffn_dim if self.dim == big else max(64, round(c.ffn_dim * self.dim / big / 64) * 64))
        self.same = self.dim == big and self.num_heads == c.num_attention_heads and self.ffn_dim == c.ffn_dim
        # image keys/values come from the context, which a narrow branch maps to its own width
        added_kv = c.added_kv_proj_dim if self.same or c.added_kv_proj_dim is None else self.dim
        self._block_args = (self.dim, self.ffn_dim, self.num_heads, c.qk_norm, c.cross_attn_norm, c.eps, added_kv)
        if self.same:
            self.token_proj = self.context_proj = self.time_proj = self.rope = None
        else:
            from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

            self.token_proj = nn.Linear(big, self.dim)
            self.context_proj = nn.Linear(big, self.dim)
            self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(big, 6 * self.dim))
            self.rope = WanRotaryPosEmbed(self.head_dim, tuple(c.patch_size), c.rope_max_seq_len)

    def new_block(self) -> nn.Module:
        """A freshly initialised Wan block of this branch's width."""
        from diffusers.models.transformers.transformer_wan import WanTransformerBlock

        return WanTransformerBlock(*self._block_args)

    def out_projection(self) -> nn.Linear:
        """Zero-initialised map from the branch's tokens to a backbone residual (d -> D)."""
        return zero_linear(self.dim, self.backbone_dim)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone tokens (B, L, D) at the branch's width (B, L, d)."""
        return x if self.token_proj is None else self.token_proj(x)

    def inputs(self, state: BackboneState) -> BranchInputs:
        """Context and time modulation of this forward pass at the branch's width."""
        if self.same:
            return BranchInputs(state.context, state.timestep_proj)
        tp = self.time_proj(state.temb.to(self.time_proj[1].weight.dtype)).unflatten(1, (6, self.dim))
        return BranchInputs(self.context_proj(state.context.to(self.context_proj.weight.dtype)), tp)

    def rotary(self, backbone: WanBackbone, frames: int, h: int, w: int, reference: torch.Tensor):
        """3-D RoPE for a token grid of ``frames × h × w`` (after patching) at the branch's head size."""
        p_t, p_h, p_w = backbone.transformer.config.patch_size
        rope = backbone.transformer.rope if self.rope is None else self.rope
        return rope(reference.new_empty(1, 1, frames * p_t, h * p_h, w * p_w))
