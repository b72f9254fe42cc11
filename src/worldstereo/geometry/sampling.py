"""Bilinear sampling of an image-like map at continuous pixel coordinates (DESIGN §5: pixel (row i,
col j) has its centre at (u, v) = (j + 0.5, i + 0.5)).

Two border rules, one owner: :func:`bilinear_sample` answers NaN where a sample needs a texel
outside the map or a NaN texel (registration must not pair a point with a hole), and
:func:`bilinear_sample_clamped` clamps to the edge (a metric wants a colour for every visible pixel).
"""

from __future__ import annotations

import numpy as np
import torch


def bilinear_sample(grid: torch.Tensor, uv: np.ndarray) -> torch.Tensor:
    """(H, W, C) map sampled at continuous pixel coords ``uv`` (P, 2) -> (P, C); NaN outside the map
    or next to NaN texels."""
    h, w = grid.shape[:2]
    x, y = torch.from_numpy(uv[:, 0] - 0.5), torch.from_numpy(uv[:, 1] - 0.5)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    inside = (x0 >= 0) & (x0 < w - 1) & (y0 >= 0) & (y0 < h - 1)
    i = torch.where(inside, y0 * w + x0, 0)
    flat = grid.reshape(h * w, -1)  # 1-D index_select is far cheaper than 2-D advanced indexing

    def at(k: torch.Tensor) -> torch.Tensor:
        return flat.index_select(0, k)

    top = at(i) * (1 - fx) + at(i + 1) * fx
    out = top * (1 - fy) + (at(i + w) * (1 - fx) + at(i + w + 1) * fx) * fy
    return torch.where(inside[:, None], out, torch.nan)


def bilinear_sample_clamped(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(H, W, C) image sampled at continuous pixel coords ``uv`` (P, 2) -> (P, C), edges clamped."""
    h, w = img.shape[:2]
    x, y = np.clip(uv[:, 0] - 0.5, 0, w - 1), np.clip(uv[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), w - 2 if w > 1 else 0), np.minimum(np.floor(y).astype(int), h - 2 if h > 1 else 0)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    return ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x1]) + fy * ((1 - fx) * img[y1, x0] + fx * img[y1, x1]))
