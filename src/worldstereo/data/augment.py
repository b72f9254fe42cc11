"""GGM training augmentation of extra-view point clouds (paper App. D).

The extra views' depth maps, whose unprojections form the global point cloud condition, are
masked twice so the camera branch learns not to trust them blindly:

1. random masking: a share of 30-70 % of the pixels, drawn uniformly, is nullified;
2. contiguous masking: one axis-aligned rectangle covering 20-70 % of the map is nullified.

Masks are ``keep`` masks: True = the pixel's point survives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

PIXEL_DROP = (0.3, 0.7)
RECT_AREA = (0.2, 0.7)
_ASPECT = (0.5, 2.0)


def _check_range(name: str, r: tuple[float, float]) -> None:
    if not (len(r) == 2 and 0.0 <= r[0] <= r[1] <= 1.0):
        raise ValueError(f"{name}: expected (low, high) with 0 <= low <= high <= 1, got {r}")


def rectangle_mask(height: int, width: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool, True inside one random rectangle covering ``area`` of the image (to a pixel).

    The aspect ratio is drawn log-uniformly in [1/2, 2] and clipped so the rectangle fits.
    """
    target = area * height * width
    aspect = float(np.exp(rng.uniform(*np.log(_ASPECT))))
    h = int(np.clip(round(np.sqrt(target / aspect)), 1, height))
    w = int(np.clip(round(target / h), 1, width))
    h = int(np.clip(round(target / w), 1, height))  # re-fit the height after clipping the width
    y = int(rng.integers(0, height - h + 1))
    x = int(rng.integers(0, width - w + 1))
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def ggm_keep_mask(height: int, width: int, rng: np.random.Generator,
                  pixel_drop: tuple[float, float] = PIXEL_DROP, rect_area: tuple[float, float] = RECT_AREA) -> np.ndarray:
    """(H, W) bool keep mask: random pixels (share drawn in ``pixel_drop``) and one rectangle
    (area share drawn in ``rect_area``) are dropped."""
    _check_range("pixel_drop", pixel_drop)
    _check_range("rect_area", rect_area)
    drop_share = rng.uniform(*pixel_drop)
    n = height * width
    dropped = np.zeros(n, bool)
    dropped[rng.choice(n, size=int(round(drop_share * n)), replace=False)] = True
    keep = ~dropped.reshape(height, width)
    keep &= ~rectangle_mask(height, width, rng.uniform(*rect_area), rng)
    return keep


def augment_extra_views(depth: Any, rng: np.random.Generator, pixel_drop: tuple[float, float] = PIXEL_DROP,
                        rect_area: tuple[float, float] = RECT_AREA) -> tuple[Any, Any]:
    """Mask the depth maps of extra views before they are unprojected into the GGM point cloud.

    Args:
        depth: (V, H, W) or (H, W) depth maps (numpy or torch; 0 = invalid), one mask per view.
        rng: the generator that makes the masks (seed it per sample for reproducible training).
    Returns:
        (masked depth, keep mask) in the input's array kind; masked pixels have depth 0.
    """
    is_torch = isinstance(depth, torch.Tensor)
    if depth.ndim not in (2, 3):
        raise ValueError(f"augment_extra_views: depth must be (H, W) or (V, H, W), got shape {tuple(depth.shape)}")
    single = depth.ndim == 2
    V, H, W = (1, *depth.shape) if single else depth.shape
    keep = np.stack([ggm_keep_mask(H, W, rng, pixel_drop, rect_area) for _ in range(V)])
    if single:
        keep = keep[0]
    if is_torch:
        keep_t = torch.from_numpy(keep).to(depth.device)
        return depth * keep_t.to(depth.dtype), keep_t
    return depth * keep.astype(depth.dtype), keep
