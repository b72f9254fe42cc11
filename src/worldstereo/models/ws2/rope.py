"""Rotary positions of the ws2 transformers, built from diffusers' ``WanRotaryPosEmbed`` tables.

Positions are given explicitly per axis so that the memory model can place reference tokens on the right
half of a double-width grid at chosen frame indices (the released "stereo stitching")."""

from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed


def rope_at(rope: WanRotaryPosEmbed, frames: torch.Tensor, rows: int, cols: torch.Tensor) -> tuple:
    """(cos, sin), each ``[1, len(frames)*rows*len(cols), 1, head_dim]``, for the token grid
    frames × range(rows) × cols in (frame, row, col) raster order."""
    split = [rope.t_dim, rope.h_dim, rope.w_dim]
    out = []
    for table in (rope.freqs_cos, rope.freqs_sin):
        t_tab, h_tab, w_tab = table.split(split, dim=1)
        nf, nc = len(frames), len(cols)
        t = t_tab[frames].view(nf, 1, 1, -1).expand(nf, rows, nc, -1)
        h = h_tab[:rows].view(1, rows, 1, -1).expand(nf, rows, nc, -1)
        w = w_tab[cols].view(1, 1, nc, -1).expand(nf, rows, nc, -1)
        out.append(torch.cat([t, h, w], dim=-1).reshape(1, nf * rows * nc, 1, -1))
    return tuple(out)


def grid_rope(rope: WanRotaryPosEmbed, frames: int, rows: int, cols: int) -> tuple:
    """The ordinary grid: frame f, row y, column x at their own indices."""
    dev = rope.freqs_cos.device
    return rope_at(rope, torch.arange(frames, device=dev), rows, torch.arange(cols, device=dev))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2k], x[2k+1]) of ``x [B, L, heads, hd]`` (Wan's convention)."""
    a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2).type_as(x)
