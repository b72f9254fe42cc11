"""Cache3D, the Global-Geometric Memory (paper §3.2): one coloured point cloud that grows with every
generated clip, each new frame Sim(3)-aligned to it before merging.

The store and the merge live here; the registration of a frame onto the cloud is
:func:`worldstereo.geometry.register.register_frame` (pure functions), so ``add_frames`` is
register, then merge."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, fields
from functools import lru_cache
from typing import Any, Optional

import numpy as np

from worldstereo import jsonio
from worldstereo.atomic import atomic_path, atomic_write_json
from worldstereo.camera import Cameras
from worldstereo.geometry import (
    PointCloud,
    Render,
    default_radius,
    depth_to_points,
    edge_confidence,
    equirect_depth_to_points,
    render_points,
    voxel_keep_indices,
)
from worldstereo.geometry.register import EDGE_THRESHOLD, AlignSettings, FrameAlignment, register_frame

from .ply import read_ply, write_ply

log = logging.getLogger(__name__)

DEFAULT_MAX_POINTS = 2_000_000
CACHE_FORMAT_VERSION = 1
# Relative depth by which a derived (soft) point must lie in front of a firm surface to hide it in a
# render: about the depth error of a re-rendered or inpainted point seen from a new angle (a splat
# blends depths over its footprint, an inpainted depth is a guess; at grazing angles a re-rendered
# point lands a few % of the depth in front of its surface). Nearer than that, a soft point joins
# the firm surface's blend instead of covering it; where no firm surface is, it shows alone.
SOFT_DEFER = 0.1


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
        """Register one frame onto the cache (:func:`geometry.register.register_frame`)."""
        h, w = depth.shape
        # a footprint of at least 1.5 px closes the pinholes between sparse cache points
        ren = self.render(camera, radius_px=max(default_radius(h, w), 1.5))
        return register_frame(self._points, ren, depth, camera, i, image, self.settings, self.scene_depth)

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
