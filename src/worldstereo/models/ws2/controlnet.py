"""The ws2 ControlNet: its own patch embedding of [noisy | frame mask | render latent], a full-resolution
hole-mask + Plücker stem, self-attention-only blocks with LayerNorm-zero modulation, and one zero-initialised
projection per block whose output is added after the DiT block of the same index.

Attribute names are the checkpoint's key names (``controlnet.*``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ControlNetConfig
from .rope import apply_rope


class MaskCameraStem(nn.Module):
    """[hole mask | Plücker] at pixel resolution -> one token per latent patch.

    ``x [B, add_channels, F, H, W]`` -> ``[B, F*(H/16)*(W/16), conv_out_dim]``."""

    def __init__(self, cfg: ControlNetConfig):
        super().__init__()
        k = cfg.mask_downsample
        self.pad = None if k <= 1 else (0, 0, 0, 0, 3, 3 if cfg.interp else 0)
        self.mask_proj = nn.Sequential(
            nn.Conv3d(cfg.add_channels, cfg.mid_channels, kernel_size=(k, 8, 8), stride=(k, 8, 8)),
            nn.GroupNorm(cfg.mid_channels // 8, cfg.mid_channels), nn.SiLU())
        self.mask_zero_proj = nn.Conv3d(cfg.mid_channels, cfg.conv_out_dim, kernel_size=(1, 2, 2), stride=(1, 2, 2))
        nn.init.zeros_(self.mask_zero_proj.weight)
        nn.init.zeros_(self.mask_zero_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return self.mask_zero_proj(self.mask_proj(x)).flatten(2).transpose(1, 2)


class ModulatedNorm(nn.Module):
    """LayerNorm whose shift/scale/gate come from the time embedding (CogVideoX "LayerNormZero")."""

    def __init__(self, time_dim: int, dim: int):
        super().__init__()
        self.linear = nn.Linear(time_dim, 3 * dim)
        self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> tuple:
        shift, scale, gate = self.linear(F.silu(temb)).chunk(3, dim=1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None], gate[:, None]


class SelfAttention(nn.Module):
    """Multi-head self-attention, q/k RMS-normalised across heads, rotary positions. With a
    ``parallel_config`` (set by ``parallel.enable_context_parallel``) ``x`` is this rank's share of the tokens
    and the keys of all ranks are attended to."""

    ws2_attention = True

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.parallel_config = None
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        self.norm_q = nn.RMSNorm(dim, eps=1e-6)
        self.norm_k = nn.RMSNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, rope: tuple) -> torch.Tensor:
        q = apply_rope(self.norm_q(self.to_q(x)).unflatten(2, (self.heads, -1)), *rope)
        k = apply_rope(self.norm_k(self.to_k(x)).unflatten(2, (self.heads, -1)), *rope)
        v = self.to_v(x).unflatten(2, (self.heads, -1))
        if self.parallel_config is not None:
            from .parallel import attention

            return self.to_out[0](attention(q, k, v, self.parallel_config).flatten(2).type_as(x))
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.to_out[0](out.transpose(1, 2).flatten(2).type_as(x))


class ControlBlock(nn.Module):
    def __init__(self, cfg: ControlNetConfig):
        super().__init__()
        self.norm1 = ModulatedNorm(cfg.time_embed_dim, cfg.dim)
        self.self_attn = SelfAttention(cfg.dim, cfg.num_heads)
        self.norm2 = ModulatedNorm(cfg.time_embed_dim, cfg.dim)
        self.ffn = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn_dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.ffn_dim, cfg.dim))

    def forward(self, x: torch.Tensor, temb: torch.Tensor, rope: tuple) -> torch.Tensor:
        h, gate = self.norm1(x, temb)
        x = x + gate * self.self_attn(h, rope)
        h, gate = self.norm2(x, temb)
        return x + gate * self.ffn(h)


class Ws2ControlNet(nn.Module):
    """``tokens [B, L, conv_out_dim]`` -> one residual ``[B, L, out_dim]`` per block."""

    def __init__(self, cfg: ControlNetConfig, in_channels: int, patch_size: tuple, out_dim: int):
        super().__init__()
        self.proj_in = nn.Linear(cfg.conv_out_dim, cfg.dim) if cfg.conv_out_dim != cfg.dim else nn.Identity()
        self.controlnet_blocks = nn.ModuleList(ControlBlock(cfg) for _ in range(cfg.num_layers))
        self.proj_out = nn.ModuleList(nn.Linear(cfg.dim, out_dim) for _ in range(cfg.num_layers))
        for proj in self.proj_out:
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)
        self.controlnet_patch_embedding = nn.Conv3d(in_channels, cfg.conv_out_dim, kernel_size=patch_size,
                                                    stride=patch_size)
        self.controlnet_mask_embedding = MaskCameraStem(cfg)

    def embed(self, control_latent: torch.Tensor, stem_input: torch.Tensor) -> torch.Tensor:
        """``control_latent [B, 36, F, h, w]``, ``stem_input [B, A, F, H, W]`` -> tokens ``[B, L, C_o]``."""
        tokens = self.controlnet_patch_embedding(control_latent).flatten(2).transpose(1, 2)
        return tokens + self.controlnet_mask_embedding(stem_input)

    def residuals(self, tokens: torch.Tensor, temb: torch.Tensor, rope: tuple):
        """Yield block i's residual when the DiT asks for it: the blocks depend on the control tokens and
        the time embedding only, so the 20 residuals ``[B, L, D]`` (6.7 GB at 480×832 in bf16) need not
        all be alive at once, as they are in the release."""
        x = self.proj_in(tokens)
        for block, proj in zip(self.controlnet_blocks, self.proj_out):
            x = block(x, temb, rope)
            yield proj(x)

    def forward(self, tokens: torch.Tensor, temb: torch.Tensor, rope: tuple) -> list:
        return list(self.residuals(tokens, temb, rope))
