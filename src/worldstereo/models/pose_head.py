"""JOG3R pose head: a DUSt3R-style decoder on one DiT block's hidden states (seeds/jog3r_paper.txt).

For every pair (frame 0, frame f), f = 1..F-1 (latent frames), the frame-0 tokens and the frame-f
tokens run through two decoders that alternate self-attention and cross-attention to each other
(DUSt3R's two-view decoder); linear heads unpatchify them into pointmaps at latent resolution:

- ``X11`` frame 0's pixels in frame 0's camera coordinates (DUSt3R's X^{1,1}),
- ``Xf1`` frame f's pixels in frame 0's camera coordinates (X^{f,1}),
- ``Xff`` frame f's pixels in its own camera coordinates (what the weighted Procrustes of
  ``registration.py`` aligns to ``Xf1`` to recover frame f's camera),

each with a confidence ``1 + exp(c)`` (DUSt3R). Points use DUSt3R's ``exp`` depth mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .configs import PoseHeadConfig


@dataclass
class PointmapPrediction:
    """Pairwise pointmaps for pairs (0, f), f = 1..F-1; P = F - 1 pairs; H, W the output grid."""

    X11: torch.Tensor  # (B, P, 3, H, W)
    C11: torch.Tensor  # (B, P, H, W), >= 1
    Xf1: torch.Tensor  # (B, P, 3, H, W)
    Cf1: torch.Tensor  # (B, P, H, W)
    Xff: torch.Tensor  # (B, P, 3, H, W)
    Cff: torch.Tensor  # (B, P, H, W)


def sincos_2d(h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 2-D sine-cosine position code (h·w, dim): half the channels for rows, half for columns."""
    if dim % 4:
        raise ValueError(f"sincos_2d needs dim divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device) / quarter)
    rows = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freqs
    cols = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freqs
    rows = torch.cat([rows.sin(), rows.cos()], -1)[:, None].expand(h, w, -1)
    cols = torch.cat([cols.sin(), cols.cos()], -1)[None].expand(h, w, -1)
    return torch.cat([rows, cols], -1).reshape(h * w, dim)


def _points(raw: torch.Tensor) -> torch.Tensor:
    """DUSt3R ``exp`` mode: direction of ``raw`` with length expm1(|raw|); raw (..., 3, H, W)."""
    d = raw.norm(dim=-3, keepdim=True).clamp_min(1e-8)
    return raw / d * torch.expm1(d)


class PoseHead(nn.Module):
    """Decoder + heads reading (B, F·h·w, D) hidden states on an (F, h, w) token grid."""

    def __init__(self, in_dim: int, patch: tuple[int, int], config: PoseHeadConfig):
        super().__init__()
        d = config.dec_dim
        self.config = config
        self.patch = tuple(patch)
        self.proj_in = nn.Linear(in_dim, d)

        def layer() -> nn.TransformerDecoderLayer:
            return nn.TransformerDecoderLayer(d, config.dec_heads, 4 * d, dropout=0.0, activation="gelu",
                                              batch_first=True, norm_first=True)

        self.dec_ref = nn.ModuleList([layer() for _ in range(config.dec_depth)])
        self.dec_tgt = nn.ModuleList([layer() for _ in range(config.dec_depth)])
        self.norm_ref = nn.LayerNorm(d)
        self.norm_tgt = nn.LayerNorm(d)
        n = self.patch[0] * self.patch[1]
        self.head_ref = nn.Linear(d, 4 * n)
        self.head_tgt = nn.Linear(d, 8 * n)

    def _unpatchify(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(N, h·w, k·ph·pw) -> (N, k, h·ph, w·pw)."""
        ph, pw = self.patch
        n = x.shape[0]
        x = x.reshape(n, h, w, -1, ph, pw).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(n, -1, h * ph, w * pw)

    def forward(self, hidden: torch.Tensor, grid: tuple[int, int, int],
                out_size: tuple[int, int] | None = None) -> PointmapPrediction:
        """hidden: (B, F·h·w, D) block output; grid (F, h, w); ``out_size`` (H, W) upsamples bilinearly."""
        f, h, w = grid
        b = hidden.shape[0]
        if hidden.ndim != 3 or hidden.shape[1] != f * h * w:
            raise ValueError(f"pose head: hidden states must be (B, {f * h * w}, D) for grid {grid}, "
                             f"got {tuple(hidden.shape)}")
        if f < 2:
            raise ValueError("pose head needs at least 2 latent frames (frame 0 is the reference)")
        x = self.proj_in(hidden.float()).reshape(b, f, h * w, -1)
        x = x + sincos_2d(h, w, x.shape[-1], x.device)
        p = f - 1
        ref = x[:, :1].expand(b, p, -1, -1).reshape(b * p, h * w, -1)
        tgt = x[:, 1:].reshape(b * p, h * w, -1)
        for dec_r, dec_t in zip(self.dec_ref, self.dec_tgt):
            ref, tgt = dec_r(ref, tgt), dec_t(tgt, ref)
        r = self._unpatchify(self.head_ref(self.norm_ref(ref)), h, w)
        t = self._unpatchify(self.head_tgt(self.norm_tgt(tgt)), h, w)
        if out_size is not None:
            r = F.interpolate(r, size=out_size, mode="bilinear", align_corners=False)
            t = F.interpolate(t, size=out_size, mode="bilinear", align_corners=False)
        r = r.reshape(b, p, *r.shape[1:])
        t = t.reshape(b, p, *t.shape[1:])

        def conf(c: torch.Tensor) -> torch.Tensor:
            return 1 + torch.exp(c.clamp(max=20))

        return PointmapPrediction(
            X11=_points(r[:, :, 0:3]), C11=conf(r[:, :, 3]),
            Xf1=_points(t[:, :, 0:3]), Cf1=conf(t[:, :, 3]),
            Xff=_points(t[:, :, 4:7]), Cff=conf(t[:, :, 7]),
        )
