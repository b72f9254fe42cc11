"""Z-buffered soft point splatting in pure torch (CPU or CUDA): the renderer behind the GGM condition.

Each point covers the pixels whose centres lie within ``radius_px`` of its projection, with weight
``1 - dist^2 / r^2``. Per pixel only the front layer is blended: points whose depth is within a
relative ``depth_band`` of the nearest one, and at most ``max_points_per_pixel`` of them. Work is
chunked over frames (one at a time) and points, so memory stays bounded for millions of points.

On CPU the same render runs as a compiled numba kernel (:mod:`.render_cpu`, several times faster);
the torch code here stays the path for CUDA and the reference the kernel is tested against.
``backend="torch"`` (or ``render.CPU_BACKEND = "torch"``) forces it on CPU too; without numba the
CPU falls back to it.
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple, Optional

import torch

from worldstereo.camera import Cameras

from .pointcloud import PointCloud

# Depth resolution of the per-pixel point cap: points closer than band / _CAP_BINS are tied and
# share the remaining slots (exact count, approximate order).
_CAP_BINS = 32

# Which renderer a CPU device gets by default: "numba" (the compiled kernel when numba imports,
# else torch) or "torch".
CPU_BACKEND = "numba"

log = logging.getLogger(__name__)
_numba_kernel: Any = None  # render_cpu.render_frames once imported; False when numba is missing


def _numba_render_frames() -> Any:
    """The compiled kernel, or None when numba cannot be imported (logged once)."""
    global _numba_kernel
    if _numba_kernel is None:
        try:
            from .render_cpu import render_frames
        except Exception as e:  # numba missing, a numba/numpy mismatch, llvmlite's library not loading
            log.debug("render_points: numba CPU kernel unavailable (%s); using the torch path", e)
            _numba_kernel = False
        else:
            _numba_kernel = render_frames
    return _numba_kernel or None


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


class _Window(NamedTuple):
    """The (2R+1)^2 pixel cells around a splat, on a buffer padded so no cell leaves it."""

    d: torch.Tensor  # (O,) axis offsets -R..R
    lin: torch.Tensor  # (O * O,) flat buffer offset dy * padded_width + dx, row-major over (dy, dx)
    pad: int


def _window(r: float, width: int, device: Any) -> _Window:
    """The buffers get a border of ``2R + 1`` pixels: every cell of every drawn point lands inside
    them, so no bounds checks are needed and nothing wraps to the other side of the image; the
    border is cropped at the end."""
    R = math.ceil(r)
    pad = 2 * R + 1
    d = torch.arange(-R, R + 1)
    lin = (d[:, None] * (width + 2 * pad) + d[None, :]).reshape(-1)
    return _Window(d.to(device, torch.float32), lin.to(device), pad)


def _splats(u: torch.Tensor, v: torch.Tensor, z: torch.Tensor, r: float, win: _Window, width: int) -> _Splats:
    """All (point, pixel) pairs of a chunk whose pixel centre lies within r of the point
    (pixel indices on the padded buffer of :func:`_window`)."""
    fu, fv = torch.floor(u), torch.floor(v)
    tx = (fu + 0.5 - u)[:, None] + win.d  # (P, O): x distance to the centres of the window columns
    ty = (fv + 0.5 - v)[:, None] + win.d
    d2 = ((ty * ty)[:, :, None] + (tx * tx)[:, None, :]).view(len(u), -1)  # (P, O * O) by broadcasting
    flat = (d2 < r * r).view(-1).nonzero().squeeze(1)
    k = win.lin.shape[0]
    p = torch.div(flat, k, rounding_mode="floor")
    wp = width + 2 * win.pad
    base = (fv.long() + win.pad) * wp + fu.long() + win.pad
    return _Splats(base[p] + win.lin[flat - p * k], p, z[p], 1.0 - d2.view(-1)[flat] / (r * r))


def _as_tensor(a: Any, device: Any) -> torch.Tensor:
    return torch.as_tensor(a, device=device).float()


@torch.no_grad()
def render_points(
    points: PointCloud,
    cameras: Cameras,
    height: int,
    width: int,
    radius_px: Optional[float] = None,
    max_points_per_pixel: Optional[int] = None,
    depth_band: float = 0.02,
    near: float = 1e-6,
    far: float = math.inf,
    device: Any = None,
    chunk_entries: int = 1 << 22,
    reuse_entries: int = 1 << 24,
    backend: Optional[str] = None,
    defer: Optional[Any] = None,
) -> Render:
    """Render a point cloud into F cameras.

    Args:
        points: P world points; ``rgb`` optional (renders black without it).
        cameras: F cameras; K is rescaled to ``height x width`` if their size differs.
        radius_px: splat radius in pixels (default :func:`default_radius`).
        max_points_per_pixel: blend at most this many of the nearest front-layer points per pixel
            (the official release uses 20). None (default) blends the whole front layer: the depth
            band already keeps farther surfaces out, and the cap costs an extra pass.
        depth_band: a point joins the front layer of a pixel when ``z <= z_min * (1 + depth_band)``.
        near, far: only points with ``near < z < far`` are drawn.
        device: where to compute (default: the points' device, else CPU).
        chunk_entries: (point, pixel) pairs generated at once; bounds the working memory (torch path).
        reuse_entries: keep a frame's pairs between passes (instead of regenerating them) while
            there are at most this many (about 16 bytes each; torch path).
        backend: "numba" (compiled CPU kernel; CPU only), "torch", or None: :data:`CPU_BACKEND`
            on CPU (torch when numba is missing), torch elsewhere.
        defer: optional (P,) relative depth slack >= 0 per point: in finding each pixel's nearest
            surface a point counts as ``1 + defer`` times farther than it is, so it cannot hide a
            surface less than that much behind it; whether it then joins that surface's front
            layer (and its blend) is judged at its true depth, at which it is also drawn. None
            (default) = no slack for any point. Only the torch path has it: with ``defer`` the
            default backend is torch, and ``backend="numba"`` is refused.
    Returns:
        :class:`Render` with tensors on ``device``; ``xyz`` is the pixel-centre ray at the rendered depth.
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
    if backend not in (None, "numba", "torch"):
        raise ValueError(f"render_points: backend must be 'numba', 'torch' or None, got {backend!r}")
    cams = cameras if (cameras.height, cameras.width) == (height, width) else cameras.resized(width, height)
    on_cpu = torch.device(device).type == "cpu"
    if defer is not None and backend == "numba":
        raise ValueError("render_points: defer (per-point depth slack) is implemented by the torch path only; "
                         "pass backend='torch' or None")
    if backend == "numba" or (backend is None and defer is None and on_cpu and CPU_BACKEND == "numba"):
        kernel = _numba_render_frames()
        if backend == "numba" and (kernel is None or not on_cpu):
            raise RuntimeError(f"render_points: backend='numba' needs numba and a CPU device (device={device})")
        if kernel is not None:
            return _render_numba(kernel, points, cams, height, width, r, max_points_per_pixel, depth_band, near, far)
    xyz = _as_tensor(points.xyz, device)
    n = xyz.shape[0]
    rgb = _as_tensor(points.rgb, device) if points.rgb is not None else torch.zeros(n, 3, device=device)
    slack = None if defer is None else 1.0 + _as_tensor(defer, device).reshape(-1)
    if slack is not None and slack.shape[0] != n:
        raise ValueError(f"render_points: defer has {slack.shape[0]} values for {n} points")
    K, T = cams.to_torch(device=device)
    win = _window(r, width, device)
    step = max(1, chunk_entries // len(win.lin))
    hp, wp = height + 2 * win.pad, width + 2 * win.pad
    hw = hp * wp
    acc = torch.zeros(len(cams), hw, 5, device=device)  # sum of w * [1, r, g, b, z] on the padded grid
    for f in range(len(cams)):
        cam = xyz @ T[f, :3, :3].T + T[f, :3, 3]
        z = cam[:, 2]
        u = K[f, 0, 0] * cam[:, 0] / z + K[f, 0, 1] * cam[:, 1] / z + K[f, 0, 2]
        v = K[f, 1, 1] * cam[:, 1] / z + K[f, 1, 2]
        keep = (z > near) & (z < far) & (u > -r) & (u < width + r) & (v > -r) & (v < height + r)
        idx = keep.nonzero(as_tuple=True)[0]
        # visit points in image order: neighbouring entries then hit neighbouring buffer cells
        # and neighbouring payload rows, which makes scatters and gathers several times faster
        centre = torch.floor(v[idx]).clamp(0, height - 1).long() * width + torch.floor(u[idx]).clamp(0, width - 1).long()
        idx = idx[torch.argsort(centre)]
        us, vs, zs = u[idx], v[idx], z[idx]
        payload = torch.cat([torch.ones(len(idx), 1, device=device), rgb[idx], zs[:, None]], 1)  # (P', 5)
        if slack is not None:  # the nearest-surface pass sees the deferred depth; payload[:, 4] keeps the true one
            zs = zs * slack[idx]
        starts = list(range(0, len(idx), step))
        stored: list[_Splats] = []
        budget = reuse_entries

        def splats(k: int) -> _Splats:
            if k < len(stored):
                return stored[k]
            a = starts[k]
            s = _splats(us[a : a + step], vs[a : a + step], zs[a : a + step], r, win, width)
            return s._replace(point=s.point + a)

        zmin = torch.full((hw,), math.inf, device=device)
        for k in range(len(starts)):
            s = splats(k)
            zmin.scatter_reduce_(0, s.pix, s.z, reduce="amin")
            if len(stored) == k and len(s.pix) <= budget:
                stored.append(s)
                budget -= len(s.pix)
        limit = zmin * (1 + depth_band)

        share = None
        if max_points_per_pixel is not None:
            hist = torch.zeros(hw * _CAP_BINS, device=device)
            for k in range(len(starts)):
                s = splats(k)
                z = s.z if slack is None else payload[s.point, 4]
                front = z <= limit[s.pix]
                b = _band_bin(z[front], zmin[s.pix[front]], depth_band)
                hist.index_add_(0, s.pix[front] * _CAP_BINS + b, torch.ones_like(b, dtype=hist.dtype))
            share = _cap_shares(hist.view(hw, _CAP_BINS), max_points_per_pixel)

        for k in range(len(starts)):
            s = splats(k)
            z = s.z if slack is None else payload[s.point, 4]
            # points behind the front layer get weight 0 (cheaper than selecting the others)
            w = s.w * (z <= limit[s.pix])
            if share is not None:
                w = w * share.view(-1)[s.pix * _CAP_BINS + _band_bin(z, zmin[s.pix], depth_band)]
            acc[f].index_add_(0, s.pix, w[:, None] * payload[s.point])

    acc = acc.view(len(cams), hp, wp, 5)[:, win.pad : win.pad + height, win.pad : win.pad + width]
    wsum = acc[..., 0]
    hole = wsum <= 1e-8
    vals = acc / torch.where(hole, torch.ones_like(wsum), wsum)[..., None]
    vals[hole] = 0.0
    shape = (len(cams), height, width)
    depth = vals[..., 4].reshape(shape)
    return Render(
        rgb=vals[..., 1:4].reshape(*shape, 3).clamp(0, 1),
        depth=depth,
        mask=hole.reshape(shape).float(),
        xyz=_pixel_rays(K, T, height, width) * depth[..., None] + _centres(T)[:, None, None, :],
    )


def _render_numba(kernel: Any, points: PointCloud, cams: Cameras, height: int, width: int, r: float,
                  cap: Optional[int], depth_band: float, near: float, far: float) -> Render:
    def arr(a: Any) -> Any:
        a = a.detach().cpu().float().numpy() if isinstance(a, torch.Tensor) else a
        return a.astype("float32", copy=False)

    xyz = arr(points.xyz)
    rgb = arr(points.rgb) if points.rgb is not None else torch.zeros(len(xyz), 3).numpy()
    K, T = cams.to_torch()  # float32, exactly as the torch path sees them
    out = kernel(xyz, rgb, K.numpy(), T.numpy(), height, width, r, cap, depth_band, near, far)
    return Render(*(torch.from_numpy(o) for o in out))


def _pixel_rays(K: torch.Tensor, T: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(F, H, W, 3) world vectors of the pixel-centre rays scaled to unit z-depth."""
    from worldstereo.camera import pixel_centers

    uv = pixel_centers(height, width, device=K.device, dtype=K.dtype)
    fx, fy, cx, cy, sk = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 0, 1]
    y = (uv[None, ..., 1] - cy[:, None, None]) / fy[:, None, None]
    x = (uv[None, ..., 0] - cx[:, None, None] - sk[:, None, None] * y) / fx[:, None, None]
    ray_cam = torch.stack([x, y, torch.ones_like(x)], -1)
    return torch.einsum("fhwj,fjk->fhwk", ray_cam, T[:, :3, :3])  # R^T applied to each ray


def _centres(T: torch.Tensor) -> torch.Tensor:
    return -torch.einsum("fji,fj->fi", T[:, :3, :3], T[:, :3, 3])


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
