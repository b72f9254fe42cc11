"""Panorama <-> perspective views, on the one equirectangular convention of ``worldstereo.camera.panorama``.

The panorama's world frame is its centre with the forward view's OpenCV axes; the views returned
by :func:`panorama_views` sit at the origin looking outwards.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from worldstereo.camera import Cameras, intrinsics_from_fov, look_at, ray_directions
from worldstereo.camera.panorama import directions_to_equirect, equirect_directions

from .depth import contract_far_depth, edge_confidence
from .pointcloud import PointCloud

# The official 27-view bank spaces its three rows atan(1/2) = 26.57 degrees apart.
ELEVATION_STEP_DEG = float(np.degrees(np.arctan(0.5)))


def panorama_views(
    n_elevations: int = 3,
    n_azimuths: int = 9,
    fov: tuple[float, float] = (120.0, 90.0),
    width: int = 832,
    height: int = 480,
) -> Cameras:
    """The perspective bank of a panorama (default: the paper's 27 views).

    Args:
        n_elevations: rows, centred on the horizon, ``ELEVATION_STEP_DEG`` apart (3 -> 0, +26.6, -26.6 deg).
        n_azimuths: views per row, every ``360 / n_azimuths`` degrees from forward (+z) towards right (+x).
        fov: (horizontal, vertical) field of view in degrees.
        width, height: view size in pixels (832 x 480 matches 120 x 90 degrees with square pixels).
    Returns:
        Cameras ordered elevation-major (horizon row first, then up, then down, alternating outwards),
        azimuth-minor; all centred at the origin.
    """
    if n_elevations < 1 or n_azimuths < 1:
        raise ValueError(f"panorama_views: need at least one row and one column, got {n_elevations}x{n_azimuths}")
    rows = [0.0]
    for k in range(1, n_elevations):
        rows.append(((k + 1) // 2) * ELEVATION_STEP_DEG * (1 if k % 2 else -1))
    K = intrinsics_from_fov(fov[0], width, height, fov_y_deg=fov[1])
    mats = []
    for elev in rows:
        for k in range(n_azimuths):
            az, el = np.radians(360.0 * k / n_azimuths), np.radians(elev)
            forward = np.array([np.cos(el) * np.sin(az), -np.sin(el), np.cos(el) * np.cos(az)])
            mats.append(look_at(np.zeros(3), forward))
    return Cameras(K, np.stack(mats), width, height)


def _as_hwc(pano: Any, fn: str) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(np.asarray(pano.detach().cpu() if hasattr(pano, "detach") else pano), dtype=torch.float32)
    if t.ndim == 2:
        return t[..., None], True
    if t.ndim != 3:
        raise ValueError(f"{fn}: expected an (H, W) or (H, W, C) panorama, got shape {tuple(t.shape)}")
    return t, False


def sample_equirect(pano: torch.Tensor, uv: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample an (He, We, C) equirect image at continuous (u, v) (..., 2); wraps across the seam.

    Rows are clamped at the poles. Returns (..., C).
    """
    he, we = pano.shape[:2]
    x, y = uv[..., 0].double() - 0.5, uv[..., 1].double() - 0.5
    if mode == "nearest":
        xi = torch.floor(x + 0.5).long() % we
        yi = torch.floor(y + 0.5).long().clamp(0, he - 1)
        return pano[yi, xi]
    if mode != "bilinear":
        raise ValueError(f"sample_equirect: mode must be 'bilinear' or 'nearest', got {mode!r}")
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0).float()[..., None], (y - y0).float()[..., None]
    x0, y0 = x0.long(), y0.long()
    xa, xb = x0 % we, (x0 + 1) % we
    ya, yb = y0.clamp(0, he - 1), (y0 + 1).clamp(0, he - 1)
    top = pano[ya, xa] * (1 - fx) + pano[ya, xb] * fx
    bottom = pano[yb, xa] * (1 - fx) + pano[yb, xb] * fx
    return top * (1 - fy) + bottom * fy


def equirect_to_views(pano: Any, views: Cameras, mode: str = "bilinear") -> np.ndarray:
    """Perspective crops of a panorama: (He, We[, C]) -> (N, H, W[, C]) float32 at ``views``' size.

    Only the views' rotations matter (the panorama is at infinity). Use ``mode="nearest"`` for depth.
    """
    img, squeeze = _as_hwc(pano, "equirect_to_views")
    dirs, _ = ray_directions(views, views.height, views.width)
    uv = directions_to_equirect(dirs, img.shape[0], img.shape[1])
    out = sample_equirect(img, uv, mode).numpy()
    return out[..., 0] if squeeze else out


def views_to_equirect(
    images: Any, views: Cameras, height: int, width: int, mode: str = "bilinear"
) -> tuple[np.ndarray, np.ndarray]:
    """Stitch perspective views (N, H, W[, C]) into an equirect image (height, width[, C]).

    Each panorama pixel takes the view in which it lies most centrally (no blending, so no
    ghosting). Returns the image (float32) and a (height, width) bool coverage mask.
    """
    imgs = np.asarray(images, dtype=np.float32)
    squeeze = imgs.ndim == 3
    if squeeze:
        imgs = imgs[..., None]
    if imgs.ndim != 4 or imgs.shape[:3] != (len(views), views.height, views.width):
        raise ValueError(
            f"views_to_equirect: images must be ({len(views)}, {views.height}, {views.width}[, C]), got {imgs.shape}"
        )
    d = equirect_directions(height, width).reshape(-1, 3).numpy()
    uv, z = views.project(d + views.centers[:1])
    w, h = views.width, views.height
    # normalised distance from the image centre: < 1 inside the image
    off = np.maximum(np.abs(uv[..., 0] / w - 0.5), np.abs(uv[..., 1] / h - 0.5)) * 2
    off = np.where(z > 0, off, np.inf)
    best = off.argmin(0)
    covered = off[best, np.arange(len(best))] < 1
    out = np.zeros((len(d), imgs.shape[-1]), dtype=np.float32)
    for i in range(len(views)):
        sel = covered & (best == i)
        if sel.any():
            out[sel] = _sample_clamped(imgs[i], uv[i, sel], mode)
    shape = (height, width)
    out = out.reshape(*shape, -1)
    return (out[..., 0] if squeeze else out), covered.reshape(shape)


def _sample_clamped(img: np.ndarray, uv: np.ndarray, mode: str) -> np.ndarray:
    """(H, W, C) sampled at (P, 2) continuous pixel coords with edge clamping -> (P, C)."""
    h, w = img.shape[:2]
    x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5
    if mode == "nearest":
        return img[np.clip(np.round(y).astype(int), 0, h - 1), np.clip(np.round(x).astype(int), 0, w - 1)]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    xa, xb = np.clip(x0.astype(int), 0, w - 1), np.clip(x0.astype(int) + 1, 0, w - 1)
    ya, yb = np.clip(y0.astype(int), 0, h - 1), np.clip(y0.astype(int) + 1, 0, h - 1)
    top = img[ya, xa] * (1 - fx) + img[ya, xb] * fx
    return top * (1 - fy) + (img[yb, xa] * (1 - fx) + img[yb, xb] * fx) * fy


def equirect_depth_to_points(
    depth: Any,
    image: Optional[Any] = None,
    edge_threshold: Optional[float] = 0.35,
    far_contract: Optional[float] = 8.0,
) -> PointCloud:
    """World points of an equirect distance map (He, We): distance along each pixel's ray, 0 = invalid.

    Same preparation as :func:`depth_to_points` (edge filter computed with the seam wrapped,
    far contraction); ``view_ids`` are 0, ``confidence`` is the edge confidence.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"equirect_depth_to_points: depth must be (He, We), got shape {d.shape}")
    d = np.where(np.isfinite(d), d, 0.0).astype(np.float32)
    conf = edge_confidence(np.pad(d, ((0, 0), (2, 2)), mode="wrap"))[:, 2:-2]
    keep = d > 0
    if edge_threshold is not None:
        keep &= conf >= edge_threshold
    if far_contract is not None:
        d = contract_far_depth(d, far_contract)
    dirs = equirect_directions(*d.shape).numpy()
    rgb = None
    if image is not None:
        img = np.asarray(image, dtype=np.float32)
        if img.shape != (*d.shape, 3):
            raise ValueError(f"equirect_depth_to_points: image must be {(*d.shape, 3)}, got {img.shape}")
        rgb = img[keep]
    xyz = (dirs[keep] * d[keep][:, None]).astype(np.float32)
    return PointCloud(xyz, rgb=rgb, view_ids=np.zeros(len(xyz), dtype=np.int64), confidence=conf[keep])
