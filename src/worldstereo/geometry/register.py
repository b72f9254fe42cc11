"""Frame-to-cache registration (paper §3.2, the GGM's alignment step) as pure functions.

:func:`register_frame` finds the Sim(3) that maps one frame's unprojected depth onto a point cloud (the
3D cache), from two estimates (projective pairs, and pairs with a splatted render of the cloud refined
by projective point-to-plane ICP) judged by colour, and accepts or refuses it against
:class:`AlignSettings`. ``memory.Cache3D`` registers each frame with it, then merges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..camera import Cameras, pixel_centers
from .align import AlignResult, Sim3, ransac_umeyama, umeyama
from .depth import edge_confidence
from .pointcloud import PointCloud
from .render import Render
from .sampling import bilinear_sample

log = logging.getLogger(__name__)

EDGE_THRESHOLD = 0.35  # depth_to_points' edge filter for merged and registered frames (the official release's)


@dataclass
class FrameAlignment:
    """How one frame given to :func:`register_frame` was aligned (or why it was refused).

    ``cache_from_frame`` maps the frame's unprojected points into the cache; ``rmse`` is the RMS
    inlier residual in scene units; ``n_pairs`` the pixel-aligned pairs it was estimated from.
    """

    frame: int
    accepted: bool
    reason: str
    n_pairs: int
    inlier_ratio: float
    rmse: float
    scale: float
    cache_from_frame: list = field(default_factory=lambda: np.eye(4).tolist())


@dataclass
class AlignSettings:
    """Thresholds of :func:`register_frame`; relative ones are fractions of the scene depth."""

    min_pairs: int = 200  # fewer pixel pairs with the cache: no overlap to align on
    min_inlier_ratio: float = 0.5  # RANSAC inliers below this share: depth disagrees with the cache
    inlier_threshold: float = 0.01  # RANSAC inlier residual, x scene depth
    max_rmse: float = 0.01  # inlier RMS residual, x scene depth
    scale_range: tuple = (0.05, 20.0)  # plausible scale between a depth estimate and the cache
    max_pairs: int = 20_000  # random subset used for RANSAC
    refine_iters: int = 20  # projective re-association rounds after the RANSAC fit


def register_frame(cache: PointCloud, ren: Render, depth: np.ndarray, camera: Cameras, i: int,
                   image: Optional[np.ndarray], settings: AlignSettings, scene_depth: float) -> FrameAlignment:
    """Sim(3) of one frame's unprojected depth onto the cache: two estimates, the better kept.

    * projective pairs: every front-surface cache point is projected into the frame and paired
      with the frame's own surface point at that exact sub-pixel position (bilinear on the
      frame's xyz map), then RANSAC-Umeyama, re-associating through the estimate. Free of the
      splat footprint's blur, so a frame whose depth agrees with the cache stays in place.
    * render pairs: pixel-aligned pairs with a splatted render of the cache, RANSAC-Umeyama and
      projective point-to-plane refinement; converges from a camera given a little off.

    On scenes with few surface orientations a geometric score cannot tell a correct estimate from
    one slid along the surfaces, so the candidates are judged by colour: the cache points' colours
    against the frame's pixels where each estimate says they appear.
    """
    s = settings
    d = np.where(np.isfinite(depth), depth, 0.0)
    h, w = d.shape
    usable = (d > 0) & (edge_confidence(d) >= EDGE_THRESHOLD)
    if usable.any():
        usable &= d <= 8.0 * np.median(d[usable])  # contracted depth is not a similarity of the truth
    pix = pixel_centers(h, w).reshape(-1, 2).numpy()
    frame_xyz = camera.unproject(pix, d.reshape(1, -1).astype(np.float64))[0].reshape(h, w, 3)
    rng = np.random.default_rng(i)
    thr = s.inlier_threshold * scene_depth
    pairs = projective_pairs(cache.xyz, frame_xyz, d, usable, ren.depth[0].numpy(), camera, rng, s.max_pairs)
    n_pairs = len(pairs(Sim3.identity())[0])

    def failed(reason: str, res=None) -> FrameAlignment:
        if res is None:
            return FrameAlignment(i, False, reason, n_pairs, 0.0, float("inf"), float("nan"))
        return FrameAlignment(i, False, reason, n_pairs, res.inlier_ratio, res.rmse, res.transform.scale, res.transform.matrix.tolist())

    if n_pairs < s.min_pairs:
        return failed(f"only {n_pairs} pixels overlap the cache (need {s.min_pairs})")
    candidates = [c for c in (align_projective(pairs, thr, rng, i, s),
                              align_render(ren, frame_xyz, usable, camera, thr, rng, i, s, scene_depth)) if c is not None]
    if not candidates:
        return failed("no alignment could be estimated")
    colour = colour_error if image is not None else None

    def key(res: AlignResult) -> tuple[float, float]:
        return (colour(cache, res.transform, image, camera, s.min_pairs) if colour else 0.0, -res.inlier_ratio)

    res = min(candidates, key=key)
    lo, hi = s.scale_range
    if res.inlier_ratio < s.min_inlier_ratio:
        return failed(f"only {res.inlier_ratio:.0%} of pixel pairs agree with the cache (need {s.min_inlier_ratio:.0%})", res)
    if res.rmse > s.max_rmse * scene_depth:
        return failed(f"residual {res.rmse:.3g} exceeds {s.max_rmse} x scene depth", res)
    if not lo <= res.transform.scale <= hi:
        return failed(f"scale {res.transform.scale:.3g} outside {s.scale_range}", res)
    return FrameAlignment(i, True, "", n_pairs, res.inlier_ratio, res.rmse, res.transform.scale, res.transform.matrix.tolist())

def projective_pairs(cache_xyz: np.ndarray, frame_xyz: np.ndarray, d: np.ndarray, usable: np.ndarray,
                     zbuf: np.ndarray, camera: Cameras, rng: np.random.Generator, max_pairs: int):
    """``pairs(T) -> (frame points, cache points)``: each front-surface cache point P is paired
    with the frame's point where the frame sees T^-1(P), unless P lies behind the frame's surface
    (occluded in this view)."""
    h, w = d.shape
    grid = torch.from_numpy(np.where(usable[..., None], np.concatenate([frame_xyz, d[..., None]], -1), np.nan))
    pts = cache_xyz.astype(np.float64)
    uv, z = camera.project(pts)
    col = np.floor(uv[0, :, 0]).astype(np.int64)
    row = np.floor(uv[0, :, 1]).astype(np.int64)
    idx = np.flatnonzero((z[0] > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h))
    zb = zbuf[row[idx], col[idx]]
    front = pts[idx[(zb > 0) & (z[0, idx] <= zb * 1.02)]]
    if len(front) > 2 * max_pairs:
        front = front[rng.choice(len(front), 2 * max_pairs, replace=False)]

    def pairs(T: Sim3) -> tuple[np.ndarray, np.ndarray]:
        puv, pz = camera.project(T.inverse().apply(front))
        q = bilinear_sample(grid, puv[0]).numpy()
        ok = np.all(np.isfinite(q), 1)
        ok[ok] &= pz[0][ok] <= q[ok, 3] * 1.02
        return q[ok, :3], front[ok]

    return pairs

def colour_error(cache: PointCloud, T: Sim3, image: np.ndarray, camera: Cameras, min_pairs: int) -> float:
    """Median colour difference between front-surface cache points and the frame's pixels where
    ``T`` says the frame sees them (lower = better registered)."""
    pc = cache
    pts = T.inverse().apply(pc.xyz.astype(np.float64))
    uv, z = camera.project(pts)
    h, w = image.shape[:2]
    ok = (z[0] > 0) & (uv[0, :, 0] >= 1) & (uv[0, :, 0] < w - 1) & (uv[0, :, 1] >= 1) & (uv[0, :, 1] < h - 1)
    if ok.sum() < min_pairs:
        return float("inf")
    sampled = bilinear_sample(torch.from_numpy(np.asarray(image, np.float64)), uv[0][ok]).numpy()
    good = np.all(np.isfinite(sampled), 1)
    return float(np.median(np.abs(sampled[good] - pc.rgb[ok][good]).mean(1))) if good.any() else float("inf")

def align_projective(pairs, thr: float, rng: np.random.Generator, i: int, s: AlignSettings) -> Optional[AlignResult]:
    """RANSAC-Umeyama on the pairs at the given pose, then Umeyama on the inliers, re-associating
    through the estimate until the pairs stop changing."""
    src, dst = pairs(Sim3.identity())
    if len(src) < s.min_pairs:
        return None
    if len(src) > s.max_pairs:
        pick = rng.choice(len(src), s.max_pairs, replace=False)
        src, dst = src[pick], dst[pick]
    res = ransac_umeyama(src, dst, threshold=thr, seed=i)
    T = res.transform
    for _ in range(s.refine_iters):
        src, dst = pairs(T)
        dist = np.linalg.norm(T.apply(src) - dst, axis=1)
        inl = dist < thr
        if inl.sum() < s.min_pairs:
            break
        res = AlignResult(T, inl, float(np.sqrt(np.mean(dist[inl] ** 2))), float(inl.mean()))
        try:
            new = umeyama(src[inl], dst[inl])
        except ValueError:
            break
        step = new @ T.inverse()
        T = new
        if float(np.abs(step.matrix - np.eye(4)).max()) < 1e-9:
            break
    return res

def align_render(ren: Render, frame_xyz: np.ndarray, usable: np.ndarray, camera: Cameras, thr: float,
                 rng: np.random.Generator, i: int, s: AlignSettings, scene_depth: float) -> Optional[AlignResult]:
    """RANSAC-Umeyama on pixel-aligned pairs with a splatted render of the cache, then :func:`refine`."""
    h, w = usable.shape
    cache_xyz = ren.xyz[0].reshape(-1, 3).double().numpy()
    cache_ok = ren.mask[0].reshape(-1).numpy() == 0
    flat = frame_xyz.reshape(-1, 3)
    use = usable.reshape(-1)
    pairs = np.flatnonzero(use & cache_ok)
    if len(pairs) < s.min_pairs:
        return None
    if len(pairs) > s.max_pairs:
        pairs = rng.choice(pairs, s.max_pairs, replace=False)
    res = ransac_umeyama(flat[pairs], cache_xyz[pairs], threshold=thr, seed=i)
    src = flat[use]
    # the refinement uses at most max_pairs per round; a margin covers points that project off
    # the surface, and projecting more than that every round is waste
    budget = s.max_pairs + s.max_pairs // 2
    if len(src) > budget:
        src = src[rng.choice(len(src), budget, replace=False)]
    surface = cache_ok.reshape(h, w) & (edge_confidence(ren.depth[0].numpy()) >= EDGE_THRESHOLD)
    return refine(res, src, cache_xyz.reshape(h, w, 3), surface, camera, thr, rng, s, scene_depth)

def refine(res: AlignResult, src, cache_xyz, cache_ok, camera: Cameras, thr: float, rng, s: AlignSettings,
           scene_depth: float) -> AlignResult:
    """Projective point-to-plane ICP (KinectFusion-style association) from the RANSAC estimate.

    RANSAC on pixel-aligned pairs is only as good as the pixel grid (a camera off by a little
    pairs each point with a neighbour of its true partner); point-to-plane refinement against
    the cache's rendered surface removes that bias in a few rounds.
    """
    grid = torch.from_numpy(np.where(cache_ok[..., None], cache_xyz, np.nan))
    normals = normal_map(grid)
    T, best, best_cost = res.transform, res, np.inf
    for it in range(s.refine_iters + 1):
        moved = T.apply(src)
        uv, z = camera.project(moved)
        q = bilinear_sample(grid, uv[0]).numpy()
        n = bilinear_sample(normals, uv[0]).numpy()
        ok = np.flatnonzero((z[0] > 0) & np.all(np.isfinite(q), 1) & np.all(np.isfinite(n), 1))
        if len(ok) < s.min_pairs:
            break
        if len(ok) > s.max_pairs:
            ok = rng.choice(ok, s.max_pairs, replace=False)
        n = n[ok] / np.linalg.norm(n[ok], axis=1, keepdims=True)
        r = np.einsum("pi,pi->p", moved[ok] - q[ok], n)
        cost = float(np.median(np.abs(r)))
        log.debug("refine %d: cost %.3g pairs %d", it, cost, len(ok))
        if cost >= best_cost and it > 4:  # once the gate has settled, a step that does not help ends it
            break
        inl = np.abs(r) < thr
        if cost < best_cost:
            best_cost = cost
            best = AlignResult(T, inl, float(np.sqrt(np.mean(r[inl] ** 2))) if inl.any() else float("inf"), float(inl.mean()))
        # annealed gate: wide at first so every surface (not just the best-fitting majority)
        # pulls on the estimate, then down to 3 robust sigmas of the residuals
        gate = max(4.0 * thr * 0.5**it, min(thr, 3.0 * 1.4826 * cost), 1e-6 * scene_depth)
        fit = np.abs(r) < gate
        if it == s.refine_iters or fit.sum() < s.min_pairs:
            break
        T = point_to_plane_step(moved[ok][fit], n[fit], r[fit]) @ T
    return best


def normal_map(grid: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) unit normals of an xyz map from central differences; NaN at borders and beside holes."""
    out = torch.full_like(grid, torch.nan)
    dx = grid[1:-1, 2:] - grid[1:-1, :-2]
    dy = grid[2:, 1:-1] - grid[:-2, 1:-1]
    out[1:-1, 1:-1] = torch.nn.functional.normalize(torch.cross(dx, dy, dim=-1), dim=-1)
    return out


def point_to_plane_step(p: np.ndarray, n: np.ndarray, r: np.ndarray) -> Sim3:
    """Linearised Sim(3) update minimising sum(((1 + sigma)(p + w x p) + t - q) . n)^2 (residual r)."""
    from scipy.spatial.transform import Rotation

    J = np.concatenate([np.cross(p, n), n, np.einsum("pi,pi->p", p, n)[:, None]], 1)  # d r / d(w, t, sigma)
    A = J.T @ J
    # Levenberg-Marquardt damping: directions the surfaces hardly constrain must not jump on noise
    A += 1e-3 * np.diag(np.diag(A)) + 1e-9 * np.trace(A) * np.eye(7)
    x = np.linalg.solve(A, -J.T @ r)
    return Sim3(float(1.0 + x[6]), Rotation.from_rotvec(x[:3]).as_matrix(), x[3:6])
