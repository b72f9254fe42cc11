"""Depth maps to world points (paper Eq. 1) with the official depth preparation: edge filter and far contraction."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy import ndimage

from worldstereo.camera import Cameras, pixel_centers

from .pointcloud import PointCloud


def contract_far_depth(depth: np.ndarray, far_contract: float = 8.0) -> np.ndarray:
    """Depth with everything beyond ``m = far_contract * median`` pulled in: ``d' = 2m - m^2 / d``.

    The map is continuous and monotonic at ``m`` and bounded by ``2m``, so a sky at 1e4 does not
    stretch the cache. Zeros (invalid) stay zero. (H, W) -> (H, W), float32.
    """
    depth = np.asarray(depth, dtype=np.float32)
    valid = depth > 0
    if not valid.any() or far_contract is None or far_contract <= 0:
        return depth
    m = far_contract * float(np.median(depth[valid]))
    far = depth > m
    out = depth.copy()
    out[far] = 2 * m - m * m / depth[far]
    return out


def edge_confidence(depth: np.ndarray) -> np.ndarray:
    """``exp(-10 |Sobel(normalised disparity)|)`` per pixel, (H, W) float32 in (0, 1].

    Disparity ``1/d`` is min-max normalised over valid pixels; the Sobel kernels are normalised
    by 1/8 (kornia's ``sobel(normalized=True)``), so the 0.35 threshold of the official release
    keeps its meaning. Invalid pixels count as disparity 0, so points beside holes look like edges.
    """
    depth = np.asarray(depth, dtype=np.float32)
    valid = depth > 0
    disp = np.zeros_like(depth, dtype=np.float64)
    if valid.any():
        disp[valid] = 1.0 / depth[valid]
        lo, hi = disp[valid].min(), disp[valid].max()
        disp[valid] = (disp[valid] - lo) / max(hi - lo, 1e-12)
    gx = ndimage.sobel(disp, axis=1, mode="nearest") / 8.0
    gy = ndimage.sobel(disp, axis=0, mode="nearest") / 8.0
    return np.exp(-10.0 * np.hypot(gx, gy)).astype(np.float32)


def depth_to_points(
    depth: Any,
    cameras: Cameras,
    image: Optional[Any] = None,
    edge_threshold: Optional[float] = 0.35,
    far_contract: Optional[float] = 8.0,
) -> PointCloud:
    """Unproject depth maps to one world point cloud (paper Eq. 1, ``X = R_wc D K^-1 x + c``).

    Args:
        depth: (H, W) or (N, H, W) z-depth along the optical axis, 0 (or non-finite) = invalid.
        cameras: N cameras of size W x H.
        image: optional (H, W, 3) or (N, H, W, 3) colours in [0, 1].
        edge_threshold: drop pixels whose :func:`edge_confidence` is below it (None = keep all).
        far_contract: contract depth beyond this multiple of each map's median (None = off).
    Returns:
        numpy ``PointCloud`` with rgb (if an image was given), ``view_ids`` (frame index in
        ``cameras``) and ``confidence`` (the edge confidence), points ordered frame by frame,
        then row-major.
    """
    depth = np.asarray(depth.detach().cpu() if hasattr(depth, "detach") else depth, dtype=np.float32)
    if depth.ndim == 2:
        depth = depth[None]
    if depth.ndim != 3:
        raise ValueError(f"depth_to_points: depth must be (H, W) or (N, H, W), got shape {depth.shape}")
    n, h, w = depth.shape
    if len(cameras) != n or (cameras.height, cameras.width) != (h, w):
        raise ValueError(
            f"depth_to_points: {n} depth maps of {w}x{h} for {len(cameras)} cameras of "
            f"{cameras.width}x{cameras.height}; resize the cameras with Cameras.resized"
        )
    if image is not None:
        image = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
        image = image[None] if image.ndim == 3 else image
        if image.shape != (n, h, w, 3):
            raise ValueError(f"depth_to_points: image must be {(n, h, w, 3)} to match depth, got {image.shape}")
    pix = pixel_centers(h, w).reshape(-1, 2).numpy()
    clouds = []
    for i in range(n):
        d = np.where(np.isfinite(depth[i]), depth[i], 0.0).astype(np.float32)
        conf = edge_confidence(d)
        keep = d > 0
        if edge_threshold is not None:
            keep &= conf >= edge_threshold
        if far_contract is not None:
            d = contract_far_depth(d, far_contract)
        keep = keep.reshape(-1)
        xyz = cameras[i].unproject(pix[keep], d.reshape(1, -1)[:, keep])[0].astype(np.float32)
        clouds.append(
            PointCloud(
                xyz=xyz,
                rgb=None if image is None else image[i].reshape(-1, 3)[keep],
                view_ids=np.full(len(xyz), i, dtype=np.int64),
                confidence=conf.reshape(-1)[keep],
            )
        )
    return PointCloud.concat(clouds)
