"""Cache3D, the Global-Geometric Memory (paper §3.2): one coloured point cloud that grows with every
generated clip, each new frame Sim(3)-aligned to it before merging."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, Optional

import numpy as np
import torch

from worldstereo import jsonio
from worldstereo.atomic import atomic_path, atomic_write_json
from worldstereo.camera import Cameras, pixel_centers
from worldstereo.geometry import (
    AlignResult,
    PointCloud,
    Render,
    Sim3,
    default_radius,
    depth_to_points,
    edge_confidence,
    equirect_depth_to_points,
    ransac_umeyama,
    render_points,
    umeyama,
    voxel_keep_indices,
)

from .ply import read_ply, write_ply

log = logging.getLogger(__name__)

DEFAULT_MAX_POINTS = 2_000_000
EDGE_THRESHOLD = 0.35  # depth_to_points' edge filter for merged frames (the official release's)
CACHE_FORMAT_VERSION = 1
# Relative depth by which a derived (soft) point must lie in front of a firm surface to hide it in a
# render: about the depth error of a re-rendered or inpainted point seen from a new angle (a splat
# blends depths over its footprint, an inpainted depth is a guess; at grazing angles a re-rendered
# point lands a few % of the depth in front of its surface). Nearer than that, a soft point joins
# the firm surface's blend instead of covering it; where no firm surface is, it shows alone.
SOFT_DEFER = 0.1


@dataclass
class FrameAlignment:
    """How one frame given to :meth:`Cache3D.add_frames` was aligned (or why it was refused).

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
    """Thresholds of :meth:`Cache3D.add_frames`; relative ones are fractions of the scene depth."""

    min_pairs: int = 200  # fewer pixel pairs with the cache: no overlap to align on
    min_inlier_ratio: float = 0.5  # RANSAC inliers below this share: depth disagrees with the cache
    inlier_threshold: float = 0.01  # RANSAC inlier residual, x scene depth
    max_rmse: float = 0.01  # inlier RMS residual, x scene depth
    scale_range: tuple = (0.05, 20.0)  # plausible scale between a depth estimate and the cache
    max_pairs: int = 20_000  # random subset used for RANSAC
    refine_iters: int = 20  # projective re-association rounds after the RANSAC fit


class Cache3D:
    """The growing point cloud of a scene plus the bookkeeping to merge new frames into it.

    Args:
        points: initial cloud (world frame of the scene), numpy or torch.
        voxel_size: de-duplication voxel edge in scene units (typical: one pixel's footprint at the
            median depth; :meth:`from_image` picks it).
        scene_depth: characteristic depth (median depth of the input view); relative thresholds use it.
        max_points: point budget; above it the cloud is voxel-downsampled with a coarser voxel.
    """

    def __init__(
        self,
        points: PointCloud,
        voxel_size: float,
        scene_depth: float,
        max_points: int = DEFAULT_MAX_POINTS,
        settings: Optional[AlignSettings] = None,
    ):
        if not voxel_size > 0 or not scene_depth > 0:
            raise ValueError(f"Cache3D: voxel_size and scene_depth must be > 0, got {voxel_size}, {scene_depth}")
        pc = points.numpy()
        if pc.rgb is None:
            pc = PointCloud(pc.xyz, np.full_like(pc.xyz, 0.5), pc.normals, pc.view_ids, pc.confidence)
        n = len(pc)
        self._points = PointCloud(
            pc.xyz,
            pc.rgb,
            view_ids=np.zeros(n, np.int64) if pc.view_ids is None else pc.view_ids,
            confidence=np.ones(n, np.float32) if pc.confidence is None else pc.confidence,
        )
        self.voxel_size = float(voxel_size)
        self.scene_depth = float(scene_depth)
        self.max_points = int(max_points)
        self.settings = settings or AlignSettings()
        self.alignments: list[FrameAlignment] = []
        self.n_views = int(self._points.view_ids.max()) + 1 if n else 0
        self.soft_views: set[int] = set()
        self._dedup(self._points)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_image(cls, image: Any, depth: Any, camera: Cameras, **kwargs) -> "Cache3D":
        """The cache of a single-image scene: the input view unprojected (edge filter, far contraction)."""
        d = np.asarray(depth, dtype=np.float32)
        valid = d[np.isfinite(d) & (d > 0)]
        if valid.size == 0:
            raise ValueError("Cache3D.from_image: the depth map has no valid (> 0) pixel")
        median = float(np.median(valid))
        pc = depth_to_points(d, camera, image)
        # half a pixel's footprint at the median depth: the input view survives almost intact
        kwargs.setdefault("voxel_size", 0.5 * median / float(camera.K[0, 0, 0]))
        return cls(pc, scene_depth=median, **kwargs)

    @classmethod
    def from_panorama(cls, pano: Any, distance: Any, **kwargs) -> "Cache3D":
        """The cache of a panorama scene from its equirect colours (He, We, 3) and ray distances (He, We)."""
        d = np.asarray(distance, dtype=np.float32)
        valid = d[np.isfinite(d) & (d > 0)]
        if valid.size == 0:
            raise ValueError("Cache3D.from_panorama: the distance map has no valid (> 0) pixel")
        median = float(np.median(valid))
        kwargs.setdefault("voxel_size", 0.5 * median * 2 * np.pi / d.shape[1])
        return cls(equirect_depth_to_points(d, pano), scene_depth=median, **kwargs)

    # -- access -----------------------------------------------------------------------------
    @property
    def points(self) -> PointCloud:
        """The cloud (numpy): xyz, rgb, view_ids (0 = initial view), confidence."""
        return self._points

    @property
    def soft(self) -> np.ndarray:
        """(P,) bool: points merged from derived frames (``add_frames(..., soft=True)``)."""
        if not self.soft_views:
            return np.zeros(len(self._points), bool)
        return np.isin(self._points.view_ids, np.fromiter(self.soft_views, np.int64))

    def __len__(self) -> int:
        return len(self._points)

    def __repr__(self) -> str:
        return f"Cache3D(points={len(self)}, views={self.n_views}, voxel={self.voxel_size:.4g})"

    def render(self, cameras: Cameras, height: Optional[int] = None, width: Optional[int] = None, **kwargs) -> Render:
        """GGM condition: :func:`render_points` of the cache (size defaults to the cameras').

        Soft points are deferred by :data:`SOFT_DEFER` (``render_points``' ``defer``): they cannot
        hide a firm surface less than that relative depth behind them, only blend into it; they show
        alone in its gaps, in disocclusions, or clearly in front of it."""
        soft = self.soft
        if soft.any() and "defer" not in kwargs:
            kwargs["defer"] = np.where(soft, np.float32(SOFT_DEFER), np.float32(0.0))
        return render_points(self._points, cameras, height or cameras.height, width or cameras.width, **kwargs)

    # -- growth -----------------------------------------------------------------------------
    def add_frames(self, images: Any, depths: Any, cameras: Cameras, weights: Any = None,
                   soft: bool = False) -> list[FrameAlignment]:
        """Align and merge frames one after another (each may rely on the ones merged before it).

        Args:
            images: (F, H, W, 3) float in [0, 1]; depths: (F, H, W) z-depth, 0 = invalid, any scale;
            cameras: F cameras of size W x H in the scene's world frame.
            weights: optional (F, H, W) trust in [0, 1] of each pixel as surface for the cache; it
                scales the merged points' confidence, and pixels of weight 0 are not merged (every
                pixel still serves the alignment).
            soft: the frames are derived from this cache (a render of it plus inpainting) rather than
                observed: their points fill the cache's gaps but never replace a firm point in
                de-duplication and never hide a firm surface just behind them in renders
                (:data:`SOFT_DEFER`).
        Returns:
            one :class:`FrameAlignment` per frame (also appended to ``self.alignments``). Frames whose
            alignment is degenerate are skipped with a warning instead of polluting the cache.
        """
        images = np.asarray(images, dtype=np.float32)
        depths = np.asarray(depths, dtype=np.float32)
        if depths.ndim == 2:
            depths, images = depths[None], images[None]
        if depths.shape[0] != len(cameras) or images.shape[:3] != depths.shape or images.shape[-1] != 3:
            raise ValueError(
                f"add_frames: need images (F, H, W, 3) and depths (F, H, W) for {len(cameras)} cameras, "
                f"got {images.shape} and {depths.shape}"
            )
        if (cameras.height, cameras.width) != depths.shape[1:]:
            raise ValueError(f"add_frames: cameras are {cameras.width}x{cameras.height}, depth is {depths.shape[2]}x{depths.shape[1]}")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float32).reshape(depths.shape)
        results = []
        for i in range(len(cameras)):
            res = self._align(depths[i], cameras[i], i, images[i])
            if res.accepted:
                pc = depth_to_points(depths[i], cameras[i], images[i], edge_threshold=EDGE_THRESHOLD)
                conf = pc.confidence * np.float32(res.inlier_ratio)
                if weights is not None:  # the weights of the pixels depth_to_points kept, in its order
                    d = np.where(np.isfinite(depths[i]), depths[i], 0.0).astype(np.float32)
                    w = weights[i][(d > 0) & (edge_confidence(d) >= EDGE_THRESHOLD)]
                    keep = np.flatnonzero(w > 0)
                    pc, conf = pc.select(keep), (conf * w)[keep]
                pc = pc.transformed(np.asarray(res.cache_from_frame))
                pc = PointCloud(pc.xyz, pc.rgb, view_ids=np.full(len(pc), self.n_views, np.int64),
                                confidence=conf.astype(np.float32))
                if soft:
                    self.soft_views.add(self.n_views)
                self.n_views += 1
                self._dedup(PointCloud.concat([self._points, pc]))
            else:
                log.warning("Cache3D: frame %d not merged: %s", i, res.reason)
            self.alignments.append(res)
            results.append(res)
        return results

    def _align(self, depth: np.ndarray, camera: Cameras, i: int, image: Optional[np.ndarray] = None) -> FrameAlignment:
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
        s = self.settings
        d = np.where(np.isfinite(depth), depth, 0.0)
        h, w = d.shape
        usable = (d > 0) & (edge_confidence(d) >= 0.35)
        if usable.any():
            usable &= d <= 8.0 * np.median(d[usable])  # contracted depth is not a similarity of the truth
        pix = pixel_centers(h, w).reshape(-1, 2).numpy()
        frame_xyz = camera.unproject(pix, d.reshape(1, -1).astype(np.float64))[0].reshape(h, w, 3)
        # a footprint of at least 1.5 px closes the pinholes between sparse cache points
        ren = self.render(camera, radius_px=max(default_radius(h, w), 1.5))
        rng = np.random.default_rng(i)
        thr = s.inlier_threshold * self.scene_depth
        pairs = self._projective_pairs(frame_xyz, d, usable, ren.depth[0].numpy(), camera, rng)
        n_pairs = len(pairs(Sim3.identity())[0])

        def failed(reason: str, res=None) -> FrameAlignment:
            if res is None:
                return FrameAlignment(i, False, reason, n_pairs, 0.0, float("inf"), float("nan"))
            return FrameAlignment(i, False, reason, n_pairs, res.inlier_ratio, res.rmse, res.transform.scale, res.transform.matrix.tolist())

        if n_pairs < s.min_pairs:
            return failed(f"only {n_pairs} pixels overlap the cache (need {s.min_pairs})")
        candidates = [c for c in (self._align_projective(pairs, thr, rng, i),
                                  self._align_render(ren, frame_xyz, usable, camera, thr, rng, i)) if c is not None]
        if not candidates:
            return failed("no alignment could be estimated")
        colour = self._colour_error if image is not None else None

        def key(res: AlignResult) -> tuple[float, float]:
            return (colour(res.transform, image, camera) if colour else 0.0, -res.inlier_ratio)

        res = min(candidates, key=key)
        lo, hi = s.scale_range
        if res.inlier_ratio < s.min_inlier_ratio:
            return failed(f"only {res.inlier_ratio:.0%} of pixel pairs agree with the cache (need {s.min_inlier_ratio:.0%})", res)
        if res.rmse > s.max_rmse * self.scene_depth:
            return failed(f"residual {res.rmse:.3g} exceeds {s.max_rmse} x scene depth", res)
        if not lo <= res.transform.scale <= hi:
            return failed(f"scale {res.transform.scale:.3g} outside {s.scale_range}", res)
        return FrameAlignment(i, True, "", n_pairs, res.inlier_ratio, res.rmse, res.transform.scale, res.transform.matrix.tolist())

    def _projective_pairs(self, frame_xyz: np.ndarray, d: np.ndarray, usable: np.ndarray, zbuf: np.ndarray,
                          camera: Cameras, rng: np.random.Generator):
        """``pairs(T) -> (frame points, cache points)``: each front-surface cache point P is paired
        with the frame's point where the frame sees T^-1(P), unless P lies behind the frame's surface
        (occluded in this view)."""
        s = self.settings
        h, w = d.shape
        grid = torch.from_numpy(np.where(usable[..., None], np.concatenate([frame_xyz, d[..., None]], -1), np.nan))
        pts = self._points.xyz.astype(np.float64)
        uv, z = camera.project(pts)
        col = np.floor(uv[0, :, 0]).astype(np.int64)
        row = np.floor(uv[0, :, 1]).astype(np.int64)
        idx = np.flatnonzero((z[0] > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h))
        zb = zbuf[row[idx], col[idx]]
        front = pts[idx[(zb > 0) & (z[0, idx] <= zb * 1.02)]]
        if len(front) > 2 * s.max_pairs:
            front = front[rng.choice(len(front), 2 * s.max_pairs, replace=False)]

        def pairs(T: Sim3) -> tuple[np.ndarray, np.ndarray]:
            puv, pz = camera.project(T.inverse().apply(front))
            q = _bilinear(grid, puv[0]).numpy()
            ok = np.all(np.isfinite(q), 1)
            ok[ok] &= pz[0][ok] <= q[ok, 3] * 1.02
            return q[ok, :3], front[ok]

        return pairs

    def _colour_error(self, T: Sim3, image: np.ndarray, camera: Cameras) -> float:
        """Median colour difference between front-surface cache points and the frame's pixels where
        ``T`` says the frame sees them (lower = better registered)."""
        pc = self._points
        pts = T.inverse().apply(pc.xyz.astype(np.float64))
        uv, z = camera.project(pts)
        h, w = image.shape[:2]
        ok = (z[0] > 0) & (uv[0, :, 0] >= 1) & (uv[0, :, 0] < w - 1) & (uv[0, :, 1] >= 1) & (uv[0, :, 1] < h - 1)
        if ok.sum() < self.settings.min_pairs:
            return float("inf")
        sampled = _bilinear(torch.from_numpy(np.asarray(image, np.float64)), uv[0][ok]).numpy()
        good = np.all(np.isfinite(sampled), 1)
        return float(np.median(np.abs(sampled[good] - pc.rgb[ok][good]).mean(1))) if good.any() else float("inf")

    def _align_projective(self, pairs, thr: float, rng: np.random.Generator, i: int) -> Optional[AlignResult]:
        """RANSAC-Umeyama on the pairs at the given pose, then Umeyama on the inliers, re-associating
        through the estimate until the pairs stop changing."""
        s = self.settings
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

    def _align_render(self, ren: Render, frame_xyz: np.ndarray, usable: np.ndarray, camera: Cameras, thr: float,
                      rng: np.random.Generator, i: int) -> Optional[AlignResult]:
        s = self.settings
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
        surface = cache_ok.reshape(h, w) & (edge_confidence(ren.depth[0].numpy()) >= 0.35)
        return self._refine(res, src, cache_xyz.reshape(h, w, 3), surface, camera, thr, rng)

    def _refine(self, res: AlignResult, src, cache_xyz, cache_ok, camera: Cameras, thr: float, rng) -> AlignResult:
        """Projective point-to-plane ICP (KinectFusion-style association) from the RANSAC estimate.

        RANSAC on pixel-aligned pairs is only as good as the pixel grid (a camera off by a little
        pairs each point with a neighbour of its true partner); point-to-plane refinement against
        the cache's rendered surface removes that bias in a few rounds.
        """
        s = self.settings
        grid = torch.from_numpy(np.where(cache_ok[..., None], cache_xyz, np.nan))
        normals = _normal_map(grid)
        T, best, best_cost = res.transform, res, np.inf
        for it in range(s.refine_iters + 1):
            moved = T.apply(src)
            uv, z = camera.project(moved)
            q = _bilinear(grid, uv[0]).numpy()
            n = _bilinear(normals, uv[0]).numpy()
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
            gate = max(4.0 * thr * 0.5**it, min(thr, 3.0 * 1.4826 * cost), 1e-6 * self.scene_depth)
            fit = np.abs(r) < gate
            if it == s.refine_iters or fit.sum() < s.min_pairs:
                break
            T = _point_to_plane_step(moved[ok][fit], n[fit], r[fit]) @ T
        return best

    def _dedup(self, pc: PointCloud) -> None:
        """Keep one point per voxel (a firm one before any soft one, then highest confidence, older on
        ties); coarsen until within budget."""
        rank = pc.confidence.astype(np.float64)
        if self.soft_views:  # firm points outrank every soft one
            firm = ~np.isin(pc.view_ids, np.fromiter(self.soft_views, np.int64))
            rank = rank + firm * (1.0 + max(float(rank.max(initial=0.0)), 0.0))
        keep = voxel_keep_indices(pc.xyz, self.voxel_size, rank)
        while len(keep) > self.max_points:
            self.voxel_size *= 1.25 * (len(keep) / self.max_points) ** (1 / 3)
            log.info("Cache3D: %d points over the budget of %d; voxel size now %.4g", len(keep), self.max_points, self.voxel_size)
            keep = voxel_keep_indices(pc.xyz, self.voxel_size, rank)
        self._points = pc.select(keep)

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """``path`` (binary PLY: xyz, rgb, confidence, view_id) and ``path`` with ``.json`` (settings, alignment log)."""
        path = os.fspath(path)
        with atomic_path(path) as tmp:
            write_ply(tmp, self._points)
        meta = {
            "version": CACHE_FORMAT_VERSION,
            "points": len(self),
            "voxel_size": self.voxel_size,
            "scene_depth": self.scene_depth,
            "max_points": self.max_points,
            "n_views": self.n_views,
            "soft_views": sorted(self.soft_views),
            "settings": asdict(self.settings),
            "alignments": [_finite_or_null(asdict(a)) for a in self.alignments],
        }
        atomic_write_json(_sidecar(path), meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Cache3D":
        """Read a cache written by :meth:`save`; anything wrong in the JSON beside the PLY raises
        ``jsonio.JSONInputError`` naming that file and the field."""
        path = os.fspath(path)
        src = _sidecar(path)
        meta = jsonio.check(jsonio.load(src, "cache settings (the JSON beside the PLY)"), _meta_schema(), src,
                            "this cache was not written by this version; start a new run")
        settings = dict(meta["settings"], scale_range=tuple(meta["settings"]["scale_range"]))
        cache = cls.__new__(cls)
        cache._points = read_ply(path)
        cache.voxel_size = float(meta["voxel_size"])
        cache.scene_depth = float(meta["scene_depth"])
        cache.max_points = int(meta["max_points"])
        cache.n_views = int(meta["n_views"])
        cache.soft_views = {int(v) for v in meta.get("soft_views", [])}
        cache.settings = AlignSettings(**settings)
        nan = float("nan")
        cache.alignments = [FrameAlignment(**{k: nan if v is None else v for k, v in a.items()}) for a in meta["alignments"]]
        return cache


def _bilinear(grid: torch.Tensor, uv: np.ndarray) -> torch.Tensor:
    """(H, W, C) map sampled at continuous pixel coords (P, 2); NaN outside or next to NaN texels."""
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


def _normal_map(grid: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) unit normals of an xyz map from central differences; NaN at borders and beside holes."""
    out = torch.full_like(grid, torch.nan)
    dx = grid[1:-1, 2:] - grid[1:-1, :-2]
    dy = grid[2:, 1:-1] - grid[:-2, 1:-1]
    out[1:-1, 1:-1] = torch.nn.functional.normalize(torch.cross(dx, dy, dim=-1), dim=-1)
    return out


def _point_to_plane_step(p: np.ndarray, n: np.ndarray, r: np.ndarray) -> Sim3:
    """Linearised Sim(3) update minimising sum(((1 + sigma)(p + w x p) + t - q) . n)^2 (residual r)."""
    from scipy.spatial.transform import Rotation

    J = np.concatenate([np.cross(p, n), n, np.einsum("pi,pi->p", p, n)[:, None]], 1)  # d r / d(w, t, sigma)
    A = J.T @ J
    # Levenberg-Marquardt damping: directions the surfaces hardly constrain must not jump on noise
    A += 1e-3 * np.diag(np.diag(A)) + 1e-9 * np.trace(A) * np.eye(7)
    x = np.linalg.solve(A, -J.T @ r)
    return Sim3(float(1.0 + x[6]), Rotation.from_rotvec(x[:3]).as_matrix(), x[3:6])


def _finite_or_null(entry: dict) -> dict:
    """A refused alignment has no rmse or scale (inf / NaN in memory): ``null`` in the file, which
    stays strict JSON; :meth:`Cache3D.load` reads ``null`` back as NaN."""
    return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in entry.items()}


@lru_cache(maxsize=1)
def _meta_schema() -> dict:
    """The cache's JSON sidecar, generated from the dataclasses it stores so the two cannot drift."""
    kinds = {"int": {"type": "integer", "minimum": 0}, "float": {"type": "number", "minimum": 0},
             "bool": {"type": "boolean"}, "str": {"type": "string", "maxLength": 1000},
             "tuple": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 2, "maxItems": 2},
             "list": {"type": "array", "minItems": 4, "maxItems": 4,
                      "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}}}

    def record(cls, nullable=()) -> dict:
        props = {f.name: kinds[f.type] for f in fields(cls)}
        for name in nullable:
            props[name] = {"anyOf": [props[name], {"type": "null"}]}
        return {"type": "object", "required": list(props), "additionalProperties": False, "properties": props}

    return {
        "type": "object",
        "required": ["version", "voxel_size", "scene_depth", "max_points", "n_views", "settings", "alignments"],
        "properties": {
            "version": {"const": CACHE_FORMAT_VERSION},
            "voxel_size": {"type": "number", "exclusiveMinimum": 0},
            "scene_depth": {"type": "number", "exclusiveMinimum": 0},
            "max_points": {"type": "integer", "minimum": 1},
            "n_views": {"type": "integer", "minimum": 0},
            "soft_views": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "settings": record(AlignSettings),
            "alignments": {"type": "array", "items": record(FrameAlignment, ("inlier_ratio", "rmse", "scale"))},
        },
    }


def _sidecar(path: str) -> str:
    return os.path.splitext(path)[0] + ".json"
