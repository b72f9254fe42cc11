"""Colour-coded pointmaps (paper §3.3): world xyz of target and reference pixels, read from renders of
the 3D cache and normalised by the scene's bounds into RGB images the VAE can encode."""

from __future__ import annotations

from typing import Optional

import numpy as np

from worldstereo.camera import Cameras

from .cache3d import Cache3D

# Share of points ignored at each end of every axis when measuring the scene's bounds, so a few
# far outliers do not squash the colour range of the whole scene.
BOUNDS_QUANTILE = 0.005


def scene_bounds(cache: Cache3D, quantile: float = BOUNDS_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per axis of the cache's points, ignoring ``quantile`` of them at each end."""
    return cache.points.bounds(quantile)


def encode_xyz(xyz: np.ndarray, hole: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """World xyz (..., 3) -> RGB in [0, 1] by ``(xyz - lo) / (hi - lo)`` (clipped); holes -> 0."""
    span = np.maximum(np.asarray(hi, np.float64) - lo, 1e-12)
    rgb = np.clip((np.asarray(xyz, np.float64) - lo) / span, 0.0, 1.0)
    return np.where(np.asarray(hole, bool)[..., None], 0.0, rgb).astype(np.float32)


def pointmaps(
    cache: Cache3D,
    target_cameras: Cameras,
    reference_cameras: Cameras,
    height: Optional[int] = None,
    width: Optional[int] = None,
    bounds: Optional[tuple[np.ndarray, np.ndarray]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pointmap images of the targets (N, H, W, 3) and the references (F, H, W, 3), float32 in [0, 1].

    Both are rendered from ``cache`` at ``height x width`` (default: the targets' size; reference
    cameras are rescaled to it so the pairs can be stitched) and encoded with the same ``bounds``
    (default :func:`scene_bounds`), so one colour means one place in the scene in every image.
    """
    h = height or target_cameras.height
    w = width or target_cameras.width
    lo, hi = bounds if bounds is not None else scene_bounds(cache)
    out = []
    for cams in (target_cameras, reference_cameras):
        if len(cams) == 0:
            out.append(np.zeros((0, h, w, 3), np.float32))
            continue
        ren = cache.render(cams, h, w)
        out.append(encode_xyz(ren.xyz.numpy(), ren.mask.numpy() > 0, lo, hi))
    return out[0], out[1]
