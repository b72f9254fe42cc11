"""Multi-view stereo with known cameras: plane sweep with an NCC cost over neighbouring views,
a local fine sweep with parabolic sub-pixel refinement, and geometric-consistency filtering.

All per-pixel depths are z-depths (along the optical axis), (N, H, W) float32, 0 = invalid.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..camera import Cameras

log = logging.getLogger(__name__)


def scene_center_and_depth(cams: Cameras) -> tuple[np.ndarray, float]:
    """Least-squares point closest to all optical axes and the median camera distance to it.

    Generated trajectories look at the scene, so this is a robust guess of where it is; the
    median distance is the scale used for the default depth range. When the axes do not converge
    in front of the cameras (parallel axes, panorama views looking outward) the scale falls back
    to 3x the extent of the camera centres (1 if they coincide).
    """
    c = cams.centers
    z = cams.world_from_cam[:, :3, 2]
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for ci, zi in zip(c, z):
        P = np.eye(3) - np.outer(zi, zi)
        A += P
        b += P @ ci
    spread = float(np.linalg.norm(c.max(0) - c.min(0)))
    fallback = 3.0 * spread if spread > 1e-9 else 1.0
    if np.linalg.cond(A) > 1e6:
        return c.mean(0) + fallback * z.mean(0), fallback
    p = np.linalg.solve(A, b)
    d = (cams.R @ p + cams.t)[:, 2]
    if np.mean(d > 1e-6) < 0.9:  # behind many cameras: they do not look at one place
        return p, fallback
    return p, float(np.median(d))


def select_neighbors(cams: Cameras, depth_hint: float, k: int, min_angle: float = 0.5) -> list[np.ndarray]:
    """Up to ``k`` source views per reference, best first: triangulation angle near 8 deg at the
    reference's centre point (MVSNet-style score), the point visible in the source (views that do not
    see it come last: they may overlap part of the image). A view under
    ``min_angle`` degrees from the reference (the same centre: a pan, a repeated frame) is never a
    source: it would match at every depth. A reference without sources gets none (no stereo depth)."""
    n = len(cams)
    k = min(k, n - 1)
    c = cams.centers
    p = c + depth_hint * cams.world_from_cam[:, :3, 2]
    with np.errstate(divide="ignore", invalid="ignore"):  # points in a camera's plane: masked by z > 0 below
        uv, zs = cams.project(p)  # (n cams, n points)
    scores = np.full((n, n), -np.inf)
    for r in range(n):
        v1 = c[r] - p[r]
        v2 = c - p[r]
        cos = (v2 @ v1) / (np.linalg.norm(v2, axis=1) * np.linalg.norm(v1) + 1e-12)
        theta = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        inside = (zs[:, r] > 0) & (uv[:, r, 0] > 0) & (uv[:, r, 0] < cams.width) & (uv[:, r, 1] > 0) & (uv[:, r, 1] < cams.height)
        sigma = np.where(theta < 8.0, 4.0, 12.0)
        s = np.exp(-((theta - 8.0) ** 2) / (2 * sigma**2))
        s = np.where(inside, s, -1e3 - theta)  # still a source for the part of the image it may overlap, ranked last
        s[theta < min_angle] = -np.inf
        s[r] = -np.inf
        scores[r] = s
    order = np.argsort(-scores, axis=1)[:, :k]
    return [o[np.isfinite(scores[r, o])] for r, o in enumerate(order)]


def _box(x: torch.Tensor, w: int) -> torch.Tensor:
    return F.avg_pool2d(x, w, stride=1, padding=w // 2, count_include_pad=False)


class _Sweeper:
    """NCC cost of per-pixel depth hypotheses for one reference view against its sources."""

    def __init__(self, images: torch.Tensor, cams: Cameras, ref: int, sources: np.ndarray, window: int):
        self.H, self.W = images.shape[-2:]
        self.w = window
        self.ref_img = images[ref][None]  # (1, 3, H, W)
        self.mu_r = _box(self.ref_img, window)
        self.sd_r = (_box(self.ref_img**2, window) - self.mu_r**2).clamp_min(0).sqrt()
        self.src_imgs = images[torch.as_tensor(sources)]
        j, i = np.meshgrid(np.arange(self.W) + 0.5, np.arange(self.H) + 0.5)
        pix = np.stack([j.ravel(), i.ravel()], 1)
        rays = cams[ref].unproject(pix, np.ones((1, len(pix))))[0] - cams.centers[ref]  # z = 1 in ref camera
        self.terms = []
        for s in sources:
            a = cams.R[s] @ cams.centers[ref] + cams.t[s]
            b = rays @ cams.R[s].T
            Kt = torch.tensor(cams.K[s], dtype=torch.float32)
            self.terms.append((Kt @ torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32) @ Kt.T))

    def cost(self, depth: torch.Tensor, top: int = 2) -> torch.Tensor:
        """depth (D, H, W) hypotheses -> aggregated NCC (D, H, W): mean of the best ``top`` sources."""
        D = depth.shape[0]
        d = depth.reshape(D, -1, 1)
        costs = []
        for (Ka, Kb), img in zip(self.terms, self.src_imgs):
            h = Ka + d * Kb  # (D, HW, 3) homogeneous source pixels
            z = h[..., 2]
            uv = h[..., :2] / z.clamp_min(1e-6)[..., None]
            grid = torch.stack([uv[..., 0] / self.W * 2 - 1, uv[..., 1] / self.H * 2 - 1], -1).reshape(D, self.H, self.W, 2)
            warped = F.grid_sample(img[None].expand(D, -1, -1, -1), grid, align_corners=False, padding_mode="zeros")
            mu_s = _box(warped, self.w)
            sd_s = (_box(warped**2, self.w) - mu_s**2).clamp_min(0).sqrt()
            cov = _box(warped * self.ref_img, self.w) - mu_s * self.mu_r
            ncc = (cov / (sd_s * self.sd_r + 1e-4)).mean(1)
            ok = (z.reshape(D, self.H, self.W) > 0) & (grid.abs() < 1).all(-1)
            costs.append(torch.where(ok, ncc, torch.full_like(ncc, -1.0)))
        c = torch.stack(costs)
        top = min(top, c.shape[0])
        return c.topk(top, dim=0).values.mean(0)


def _parabola(c0: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    """Offset in [-0.5, 0.5] of the maximum of the parabola through (-1, c0), (0, c1), (1, c2)."""
    den = c0 - 2 * c1 + c2
    off = torch.where(den < -1e-6, 0.5 * (c0 - c2) / den.clamp_max(-1e-6), torch.zeros_like(den))
    return off.clamp(-0.5, 0.5)


def plane_sweep(
    frames: np.ndarray, cams: Cameras, near: float, far: float, *, neighbors: Sequence[np.ndarray], num_depths: int = 64,
    window: int = 5, min_ncc: float = 0.5, near_far: Optional[np.ndarray] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (N, H, W) and aggregated NCC per view; ``near_far`` (N, 2) overrides the range per view.

    Coarse sweep at half resolution over ``num_depths`` fronto-parallel planes uniform in inverse
    depth, then a full-resolution fine sweep of 9 per-pixel hypotheses spanning +-1.5 coarse steps, then a parabola through the best fine
    hypothesis and its two neighbours (sub-step refinement).
    """
    images = torch.as_tensor(np.ascontiguousarray(frames), dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    N, _, H, W = images.shape
    # the coarse sweep runs at half resolution: 4x cheaper, and the fine sweep restores full detail
    small = F.avg_pool2d(images, 2) if min(H, W) >= 64 else images
    cams_small = cams.resized(small.shape[-1], small.shape[-2])
    depth_out = np.zeros((N, H, W), np.float32)
    ncc_out = np.full((N, H, W), -1.0, np.float32)
    with torch.no_grad():
        for r in range(N):
            if len(neighbors[r]) == 0:  # no source with parallax: no stereo depth for this view
                if progress:
                    progress(r + 1, N)
                continue
            lo, hi = (near, far) if near_far is None else near_far[r]
            inv = torch.linspace(1.0 / lo, 1.0 / hi, num_depths)
            coarse = _Sweeper(small, cams_small, r, neighbors[r], window)
            hs, ws = small.shape[-2:]
            cost = coarse.cost((1.0 / inv)[:, None, None].expand(-1, hs, ws))
            inv_best = inv[cost.argmax(0)]
            if (hs, ws) != (H, W):
                inv_best = F.interpolate(inv_best[None, None], size=(H, W), mode="nearest")[0, 0]
            step = (inv[0] - inv[1]).item()
            fine_off = torch.linspace(-1.5, 1.5, 9) * step
            inv_fine = (inv_best[None] + fine_off[:, None, None]).clamp_min(1e-6)
            sw = _Sweeper(images, cams, r, neighbors[r], window)
            cf = sw.cost(1.0 / inv_fine)
            k = cf[1:-1].argmax(0) + 1
            c0, c1, c2 = (cf.gather(0, (k + o)[None])[0] for o in (-1, 0, 1))
            inv_ref = inv_fine.gather(0, k[None])[0] + _parabola(c0, c1, c2) * (fine_off[1] - fine_off[0])
            d = 1.0 / inv_ref.clamp_min(1e-6)
            valid = (c1 >= min_ncc) & (sw.sd_r[0].mean(0) > 0.01)
            depth_out[r] = torch.where(valid, d, torch.zeros_like(d)).numpy()
            ncc_out[r] = c1.numpy()
            if progress:
                progress(r + 1, N)
    return depth_out, ncc_out


def geometric_filter(depth: np.ndarray, cams: Cameras, neighbors: Sequence[np.ndarray], min_views: int,
                     px_tol: float = 1.0, rel_tol: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Keep a depth when at least ``min_views - 1`` neighbour depth maps agree with it.

    Agreement (forward-backward check): project the point into the neighbour, read its depth
    there, lift that back and reproject into the reference; the pixel must land within ``px_tol``
    and the depth within ``rel_tol`` (relative). Returns (filtered depth, count of agreeing views).
    Kept depths are replaced by the mean of the agreeing estimates (reduces noise).
    """
    N, H, W = depth.shape
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    out = np.zeros_like(depth)
    counts = np.zeros(depth.shape, np.int32)
    for r in range(N):
        d_all = depth[r].ravel()
        idx = np.flatnonzero(d_all > 0)
        d, p = d_all[idx].astype(np.float64), pix[idx]
        X = cams[r].unproject(p, d[None])[0]
        acc = d.copy()
        cnt = np.zeros(len(idx), np.int32)
        for s in neighbors[r]:
            uv, z = cams[s].project(X)
            uv, z = uv[0], z[0]
            inside = (z > 1e-9) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
            ds = np.zeros(len(idx))
            ds[inside] = depth[s][uv[inside, 1].astype(int), uv[inside, 0].astype(int)]
            ok = np.flatnonzero(ds > 0)
            Xs = cams[s].unproject(uv[ok], ds[ok][None])[0]
            uvb, zb = cams[r].project(Xs)
            err = np.linalg.norm(uvb[0] - p[ok], axis=1)
            good = (err < px_tol) & (np.abs(zb[0] - d[ok]) < rel_tol * d[ok])
            acc[ok[good]] += zb[0][good]
            cnt[ok[good]] += 1
        keep = cnt >= min_views - 1
        flat = np.zeros(H * W)
        flat[idx[keep]] = acc[keep] / (cnt[keep] + 1)
        out[r] = flat.reshape(H, W)
        full = np.zeros(H * W, np.int32)
        full[idx] = cnt
        counts[r] = full.reshape(H, W)
    return out.astype(np.float32), counts


def splat_depth(points: np.ndarray, cams: Cameras) -> np.ndarray:
    """Z-buffered depth (N, H, W) of a point cloud (P, 3) in every camera (nearest point per pixel)."""
    uv, z = cams.project(points)
    H, W = cams.height, cams.width
    out = np.full((len(cams), H * W), np.inf)
    for k in range(len(cams)):
        col, row = np.floor(uv[k, :, 0]).astype(np.int64), np.floor(uv[k, :, 1]).astype(np.int64)
        ok = (z[k] > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        np.minimum.at(out[k], row[ok] * W + col[ok], z[k][ok])
    out[~np.isfinite(out)] = 0
    return out.reshape(len(cams), H, W).astype(np.float32)


def prior_ranges(prior: np.ndarray, fallback: tuple[float, float]) -> np.ndarray:
    """Per-view (near, far) (N, 2) from a prior depth (N, H, W): the 2nd-98th percentiles widened
    by 25 %; views with too little prior keep ``fallback``."""
    out = np.tile(np.asarray(fallback, np.float64), (len(prior), 1))
    for k, d in enumerate(prior):
        v = d[d > 0]
        if v.size > 0.05 * d.size:
            lo, hi = np.percentile(v, [2, 98])
            out[k] = (0.8 * lo, 1.25 * hi)
    return out


def photo_check(frames: np.ndarray, cams: Cameras, depth: np.ndarray, neighbors: Sequence[np.ndarray], window: int = 5) -> np.ndarray:
    """Aggregated NCC (N, H, W) of given depth maps (N, H, W) against each view's neighbours
    (e.g. to accept Cache3D depth where stereo found none)."""
    images = torch.as_tensor(np.ascontiguousarray(frames), dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    out = np.full(depth.shape, -1.0, np.float32)
    with torch.no_grad():
        for r in range(len(cams)):
            if not (depth[r] > 0).any() or len(neighbors[r]) == 0:
                continue
            d = torch.as_tensor(np.maximum(depth[r], 1e-6))[None]
            out[r] = _Sweeper(images, cams, r, neighbors[r], window).cost(d)[0].numpy()
    return np.where(depth > 0, out, -1.0)


def grow_consistent(raw: np.ndarray, kept: np.ndarray, rel_tol: float = 0.02, min_support: int = 3,
                    iterations: int = 2) -> np.ndarray:
    """Recover raw depths (N, H, W) next to kept ones: a pixel whose raw depth failed the multi-view
    test joins when at least ``min_support`` of its 8 neighbours are kept and agree with it within
    ``rel_tol``. Surfaces seen by few views keep their interior this way, while isolated outliers
    (no agreeing kept neighbours) stay out."""
    out = kept.copy()
    for _ in range(iterations):
        support = np.zeros(out.shape, np.int32)
        pad = np.pad(out, ((0, 0), (1, 1), (1, 1)))
        H, W = out.shape[1:]
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == 0 and dj == 0:
                    continue
                nb = pad[:, 1 + di:1 + di + H, 1 + dj:1 + dj + W]
                support += (nb > 0) & (np.abs(nb - raw) <= rel_tol * raw)
        add = (out == 0) & (raw > 0) & (support >= min_support)
        if not add.any():
            break
        out = np.where(add, raw, out)
    return out
