"""Z-buffered soft point splatting in pure torch (CPU or CUDA): the renderer behind the GGM condition.

Each point covers the pixels whose centres lie within ``radius_px`` of its projection, with weight
``1 - dist^2 / r^2``. Per pixel only the front layer is blended: points whose depth is within a
relative ``depth_band`` of the nearest one, and at most ``max_points_per_pixel`` of them. Work is
chunked over frames (one at a time) and points, so memory stays bounded for millions of points.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import torch

from worldstereo.camera import Cameras

from .pointcloud import PointCloud

# Depth resolution of the per-pixel point cap: points closer than band / _CAP_BINS are tied and
# share the remaining slots (exact count, approximate order).
_CAP_BINS = 32


class Render(NamedTuple):
    """Output of :func:`render_points` (unpacks as ``rgb, depth, mask, xyz``).

    rgb: (F, H, W, 3) float32 in [0, 1], 0 in holes; depth: (F, H, W) float32 z-depth, 0 in holes;
    mask: (F, H, W) float32, 1 = hole; xyz: (F, H, W, 3) float32 world points, 0 in holes.
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    xyz: torch.Tensor


def default_radius(height: int, width: int) -> float:
    """2 px at 480p, scaled with the short side (the official release's footprint).

    Never below 0.75 px: any point then reaches its nearest pixel centre (at most sqrt(2)/2 away),
    so small renders of a dense cloud have no pinholes.
    """
    return max(2.0 * min(height, width) / 480.0, 0.75)


class _Splats(NamedTuple):
    pix: torch.Tensor  # (E,) flat pixel index
    point: torch.Tensor  # (E,) index into the chunk's points
    z: torch.Tensor  # (E,)
    w: torch.Tensor  # (E,) 1 - d^2 / r^2


def _splats(u: torch.Tensor, v: torch.Tensor, z: torch.Tensor, r: float, height: int, width: int) -> _Splats:
    """All (point, pixel) pairs of a chunk whose pixel centre lies within r of the point."""
    R = math.ceil(r)
    off = torch.arange(-R, R + 1, device=u.device)
    cols = torch.floor(u).long()[:, None] + off  # (P, O)
    rows = torch.floor(v).long()[:, None] + off
    dx2 = (cols + 0.5 - u[:, None]) ** 2
    dy2 = (rows + 0.5 - v[:, None]) ** 2
    d2 = dy2[:, :, None] + dx2[:, None, :]  # (P, O, O): [point, row offset, col offset]
    ok = (d2 < r * r) & ((cols >= 0) & (cols < width))[:, None, :] & ((rows >= 0) & (rows < height))[:, :, None]
    p, i, j = ok.nonzero(as_tuple=True)
    pix = rows[p, i] * width + cols[p, j]
    return _Splats(pix, p, z[p], 1.0 - d2[p, i, j] / (r * r))


def _as_tensor(a: Any, device: Any) -> torch.Tensor:
    return torch.as_tensor(a, device=device).float()


@torch.no_grad()
def render_points(
    points: PointCloud,
    cameras: Cameras,
    height: int,
    width: int,
    radius_px: Optional[float] = None,
    max_points_per_pixel: Optional[int] = 20,
    depth_band: float = 0.02,
    near: float = 1e-6,
    far: float = math.inf,
    device: Any = None,
    chunk_entries: int = 1 << 22,
) -> Render:
    """Render a point cloud into F cameras.

    Args:
        points: P world points; ``rgb`` optional (renders black without it).
        cameras: F cameras; K is rescaled to ``height x width`` if their size differs.
        radius_px: splat radius in pixels (default :func:`default_radius`).
        max_points_per_pixel: blend at most this many of the nearest points per pixel (None = all
            points of the front layer).
        depth_band: a point joins the front layer of a pixel when ``z <= z_min * (1 + depth_band)``.
        near, far: only points with ``near < z < far`` are drawn.
        device: where to compute (default: the points' device, else CPU).
        chunk_entries: upper bound on (point, pixel) pairs held at once; bounds memory.
    Returns:
        :class:`Render` with tensors on ``device``.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"render_points: image size must be positive, got {width}x{height}")
    if max_points_per_pixel is not None and max_points_per_pixel < 1:
        raise ValueError(f"render_points: max_points_per_pixel must be >= 1 or None, got {max_points_per_pixel}")
    r = default_radius(height, width) if radius_px is None else float(radius_px)
    if r <= 0:
        raise ValueError(f"render_points: radius_px must be > 0, got {radius_px}")
    if device is None:
        device = points.xyz.device if points.is_torch else "cpu"
    cams = cameras if (cameras.height, cameras.width) == (height, width) else cameras.resized(width, height)
    xyz = _as_tensor(points.xyz, device)
    n = xyz.shape[0]
    rgb = _as_tensor(points.rgb, device) if points.rgb is not None else torch.zeros(n, 3, device=device)
    payload = torch.cat([torch.ones(n, 1, device=device), rgb, xyz], 1)  # (P, 7): 1, rgb, xyz
    K, T = cams.to_torch(device=device)
    window = (2 * math.ceil(r) + 1) ** 2
    step = max(1, chunk_entries // window)
    hw = height * width
    out = torch.zeros(len(cams), hw, 8, device=device)
    for f in range(len(cams)):
        cam = xyz @ T[f, :3, :3].T + T[f, :3, 3]
        z = cam[:, 2]
        u = K[f, 0, 0] * cam[:, 0] / z + K[f, 0, 1] * cam[:, 1] / z + K[f, 0, 2]
        v = K[f, 1, 1] * cam[:, 1] / z + K[f, 1, 2]
        keep = (z > near) & (z < far) & (u > -r) & (u < width + r) & (v > -r) & (v < height + r)
        idx = keep.nonzero(as_tuple=True)[0]
        chunks = [idx[s : s + step] for s in range(0, len(idx), step)]

        def splats(c: torch.Tensor) -> _Splats:
            return _splats(u[c], v[c], z[c], r, height, width)

        zmin = torch.full((hw,), math.inf, device=device)
        for c in chunks:
            s = splats(c)
            zmin.scatter_reduce_(0, s.pix, s.z, reduce="amin")
        limit = zmin * (1 + depth_band)

        share = None
        if max_points_per_pixel is not None:
            hist = torch.zeros(hw * _CAP_BINS, device=device)
            for c in chunks:
                s = splats(c)
                front = s.z <= limit[s.pix]
                b = _band_bin(s.z[front], zmin[s.pix[front]], depth_band)
                hist.index_add_(0, s.pix[front] * _CAP_BINS + b, torch.ones_like(b, dtype=hist.dtype))
            share = _cap_shares(hist.view(hw, _CAP_BINS), max_points_per_pixel)

        acc = out[f]
        for c in chunks:
            s = splats(c)
            front = s.z <= limit[s.pix]
            pix, w, zf = s.pix[front], s.w[front], s.z[front]
            if share is not None:
                w = w * share.view(-1)[pix * _CAP_BINS + _band_bin(zf, zmin[pix], depth_band)]
            acc[:, 7].index_add_(0, pix, w * zf)
            acc[:, :7].index_add_(0, pix, w[:, None] * payload[c[s.point[front]]])

    wsum = out[..., 0]
    hole = wsum <= 1e-8
    norm = torch.where(hole, torch.ones_like(wsum), wsum)[..., None]
    vals = torch.where(hole[..., None], torch.zeros_like(out), out / norm)
    shape = (len(cams), height, width)
    return Render(
        rgb=vals[..., 1:4].reshape(*shape, 3).clamp(0, 1),
        depth=vals[..., 7].reshape(shape),
        mask=hole.reshape(shape).float(),
        xyz=vals[..., 4:7].reshape(*shape, 3),
    )


def _band_bin(z: torch.Tensor, zmin: torch.Tensor, band: float) -> torch.Tensor:
    q = (z / zmin - 1.0) / max(band, 1e-12)
    return (q * _CAP_BINS).long().clamp_(0, _CAP_BINS - 1)


def _cap_shares(hist: torch.Tensor, cap: int) -> torch.Tensor:
    """(HW, B) weight factor per depth bin: 1 below the bin where the count reaches ``cap``,
    the remaining share of slots in that bin, 0 behind it."""
    cum = hist.cumsum(1)
    before = cum - hist
    share = ((cap - before) / hist.clamp(min=1)).clamp_(0, 1)
    return share
