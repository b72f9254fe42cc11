"""Known free space as a voxel grid carved by the rays of observed depth maps.

A voxel is *free* when some camera's ray crossed it before reaching a surface, *occupied* when a
surface point of the memories lies in it, and *unknown* otherwise (behind surfaces, outside every
frustum, outside the grid). Cameras may only go where the grid says free, with clearance.

Why not Open3D's TSDF / VoxelBlockGrid: they allocate blocks only within the truncation band
around surfaces, so the empty space between the camera and the surface -- the part a path
travels through -- is not represented, and DESIGN §4 keeps Open3D out of ``geometry``. The carve
here is a vectorised sampling of all rays at once (numpy), and the clearance query is SciPy's
Euclidean distance transform of the free mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy import ndimage

from ..camera import Cameras

UNKNOWN, FREE, OCCUPIED = 0, 1, 2
NOWHERE = np.iinfo(np.int64).min  # the key of a cast ray that meets no surface
MAX_RAYS = 4096  # rays per depth map; more add nothing at the grid's resolution


@dataclass
class VoxelGrid:
    """A dense grid of ``shape`` voxels of edge ``voxel`` from corner ``origin`` (world units).

    ``carved`` (X, Y, Z) bool: crossed by a ray; ``occupied`` (X, Y, Z) bool: holds a surface point;
    ``seeded`` (X, Y, Z) bool: free by assumption (a ball around a real camera, which stood there).
    """

    origin: np.ndarray
    voxel: float
    shape: tuple[int, int, int]
    carved: np.ndarray = field(repr=False)
    occupied: np.ndarray = field(repr=False)
    seeded: np.ndarray = field(repr=False)
    _distance: Optional[np.ndarray] = field(default=None, repr=False)

    @classmethod
    def bounding(cls, points: np.ndarray, centers: np.ndarray, voxel: float, pad: float, reach: float,
                 max_cells: int = 96) -> "VoxelGrid":
        """The grid covering the central 98 % of ``points`` (P, 3) and all ``centers`` (N, 3), padded
        by ``pad``, but no farther than ``reach`` from the centres (far backgrounds would coarsen the
        voxels where cameras move); the voxel grows past ``voxel`` when an axis would exceed ``max_cells``."""
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), 1)]
        c = np.asarray(centers, np.float64).reshape(-1, 3)
        if voxel <= 0 or not np.isfinite(voxel):
            raise ValueError(f"VoxelGrid.bounding: voxel must be > 0, got {voxel}")
        lo = np.min(np.vstack([np.percentile(pts, 1, 0) if len(pts) else c[0], c]), 0) - pad
        hi = np.max(np.vstack([np.percentile(pts, 99, 0) if len(pts) else c[0], c]), 0) + pad
        lo, hi = np.maximum(lo, c.min(0) - reach), np.minimum(hi, c.max(0) + reach)
        voxel = max(voxel, float((hi - lo).max()) / max_cells)
        shape = tuple(int(s) for s in np.maximum(np.ceil((hi - lo) / voxel), 1).astype(int))
        z = np.zeros(shape, bool)
        return cls(lo, float(voxel), shape, z.copy(), z.copy(), z.copy())

    # -- indexing -------------------------------------------------------------------------------
    def index(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, 3) int voxel indices of ``points`` (P, 3) and (P,) whether each lies inside the grid."""
        ijk = np.floor((np.asarray(points, np.float64) - self.origin) / self.voxel).astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.shape)), -1)
        return np.where(inside[..., None], ijk, 0), inside

    def centers(self, ijk: np.ndarray) -> np.ndarray:
        return self.origin + (np.asarray(ijk, np.float64) + 0.5) * self.voxel

    @property
    def free(self) -> np.ndarray:
        """(X, Y, Z) bool: known free (carved or seeded, and no surface point inside)."""
        return (self.carved | self.seeded) & ~self.occupied

    @property
    def state(self) -> np.ndarray:
        """(X, Y, Z) uint8 of UNKNOWN / FREE / OCCUPIED."""
        s = np.full(self.shape, UNKNOWN, np.uint8)
        s[self.free] = FREE
        s[self.occupied] = OCCUPIED
        return s

    # -- building -------------------------------------------------------------------------------
    def integrate(self, depth: np.ndarray, camera: Cameras) -> None:
        """Carve the space in front of ``depth`` (H, W) z-depth seen by ``camera`` (one view): every
        ray is free up to a voxel short of its surface. Pixels without depth (0) carve nothing."""
        d = np.asarray(depth, np.float64)
        H, W = d.shape
        stride = max(1, int(np.ceil(np.sqrt(H * W / MAX_RAYS))))
        rows, cols = np.mgrid[stride // 2:H:stride, stride // 2:W:stride]
        z = d[rows, cols].ravel()
        keep = np.isfinite(z) & (z > 0)
        if not keep.any():
            return
        K = camera.K[0]
        u, v = cols.ravel()[keep] + 0.5, rows.ravel()[keep] + 0.5
        ray_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], 1)
        world_from_cam = camera.world_from_cam[0]
        dirs = ray_cam @ world_from_cam[:3, :3].T  # unit z: t is z-depth
        length = np.linalg.norm(dirs, axis=1)
        reach = z[keep] * length - self.voxel  # stop a voxel short of the surface, along the ray
        step = 0.5 * self.voxel
        n = int(np.ceil(max(float(reach.max()), 0.0) / step)) + 1
        t = np.arange(n) * step  # distances along the unit ray
        unit = dirs / length[:, None]
        for a in range(0, len(unit), 512):  # bounded memory: 512 rays x n samples at a time
            pts = world_from_cam[:3, 3] + unit[a:a + 512, None, :] * t[None, :, None]
            ok = t[None, :] <= reach[a:a + 512, None]
            ijk, inside = self.index(pts[ok])
            ijk = ijk[inside]
            self.carved[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        self._distance = None

    def mark_surfaces(self, points: np.ndarray) -> None:
        """Voxels holding any of ``points`` (P, 3) are occupied (replaces the previous marking)."""
        ijk, inside = self.index(np.asarray(points, np.float64).reshape(-1, 3))
        ijk = ijk[inside]
        self.occupied[:] = False
        self.occupied[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        self._distance = None

    def seed_ball(self, center: np.ndarray, radius: float) -> None:
        """Voxels whose centre is within ``radius`` of ``center`` are free by assumption."""
        grid = np.stack(np.meshgrid(*[np.arange(s) for s in self.shape], indexing="ij"), -1)
        self.seeded |= np.linalg.norm(self.centers(grid) - np.asarray(center, np.float64), axis=-1) <= radius
        self._distance = None

    # -- queries --------------------------------------------------------------------------------
    def clearance(self, points: np.ndarray) -> np.ndarray:
        """(P,) distance from each point (P, 3) to the nearest voxel that is not known free (0 where
        the point itself is not in known free space or outside the grid). Conservative by half a
        voxel: the distance between voxel centres minus one voxel."""
        if self._distance is None:
            free = self.free
            # a border of non-free voxels: the world outside the grid is unknown
            padded = np.pad(free, 1, constant_values=False)
            self._distance = ndimage.distance_transform_edt(padded)[1:-1, 1:-1, 1:-1] * self.voxel
        ijk, inside = self.index(np.asarray(points, np.float64).reshape(-1, 3))
        d = self._distance[ijk[:, 0], ijk[:, 1], ijk[:, 2]] - self.voxel
        return np.where(inside & (d > 0), np.maximum(d, 0.0), 0.0)

    def path_clearance(self, centers: np.ndarray) -> np.ndarray:
        """(N,) the least clearance on the way to each of the path's ``centers`` (N, 3): at the centre
        itself and along the straight segment from the previous one (sampled every half voxel)."""
        c = np.asarray(centers, np.float64).reshape(-1, 3)
        out = self.clearance(c)
        for i in range(1, len(c)):
            n = int(np.ceil(np.linalg.norm(c[i] - c[i - 1]) / (0.5 * self.voxel)))
            if n > 1:
                s = np.linspace(0.0, 1.0, n + 1)[1:-1, None]
                out[i] = min(out[i], float(self.clearance(c[i - 1] + s * (c[i] - c[i - 1])).min()))
        return out

    def cast(self, cameras: Cameras, rays: tuple[int, int] = (24, 40), max_range: Optional[float] = None,
             expected_depth: Optional[float] = None, sky: Optional[tuple[np.ndarray, float]] = None,
             ground: Optional[tuple[np.ndarray, float]] = None) -> dict:
        """What ``cameras`` (N views) would see at ``rays`` = (rows, cols) rays each, marching the grid:

        ``support`` (N,) share of rays reaching a known surface through free space (the generator's
        condition) or passing through free space only, to ``max_range`` or out of the grid (``clear``:
        where the memories saw nothing near, e.g. the sky above an outdoor scene; nothing new there);
        ``new`` (N,) share of rays leaving known free space into unknown space; ``voxels`` the distinct
        voxel keys (integer triples, unbounded) of where those rays are expected to meet a surface --
        where they enter unknown space, or at
        ``expected_depth`` when that is farther (space just outside the known region is rarely the
        surface: a pan next to the input camera would otherwise score only the shell around it),
        never behind a known surface. The number of distinct keys over all views is the expected
        newly observed surface in voxel faces, each counted once; ``hits`` per view the (R, 3) keys
        where each of its rays ends on a surface (the known one it meets through free space, or the
        expected new one above) and ``NOWHERE`` rows for rays that end nowhere (free to ``max_range``,
        or behind a known surface they cannot see through), so that views can be compared ray by ray.
        ``dirs`` per view the (R, 3) unit ray directions.

        ``sky`` = (unit up vector, sine of an elevation): rays pointing higher than that elevation that
        would leave known free space are taken as ``clear`` (the open sky the memories saw up there).
        ``ground`` = (unit normal n, offset c) of the plane under the cameras (n . x + c > 0 above it): a
        ray going down into unknown space is expected to meet it there (the floor or ground continues),
        not at ``expected_depth``.
        """
        state = self.state
        rmax = max_range or float(np.linalg.norm(np.array(self.shape) * self.voxel))
        step = 0.5 * self.voxel
        t = np.arange(1, int(np.ceil(rmax / step)) + 1) * step
        h, w = rays
        uv = np.stack(np.meshgrid((np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h, indexing="xy"), -1).reshape(-1, 2)
        support, new, keys, hits, clears, rays_out = [], [], [], [], [], []
        for i in range(len(cameras)):
            K, world_from_cam = cameras.K[i], cameras.world_from_cam[i]
            u, v = uv[:, 0] * cameras.width, uv[:, 1] * cameras.height
            d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], 1) @ world_from_cam[:3, :3].T
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            rays_out.append(d)
            o = world_from_cam[:3, 3]
            ijk, inside = self.index(o + d[:, None, :] * t[None, :, None])
            s = np.where(inside, state[ijk[..., 0], ijk[..., 1], ijk[..., 2]], UNKNOWN)
            first = np.argmax(s != FREE, axis=1)
            stop = s[np.arange(len(s)), first]
            # through free space to max_range, or out of the grid after free space only (the grid is
            # clipped around the cameras, the carve was not): the ray sees nothing new
            clear = np.all(s == FREE, axis=1) | ((first > 0) & ~inside[np.arange(len(s)), first])
            if sky is not None:
                clear |= (stop == UNKNOWN) & (d @ np.asarray(sky[0], np.float64) > sky[1])
            stop[clear] = FREE
            clears.append(clear)
            support.append(float(np.mean((stop == OCCUPIED) | clear)))
            into = stop == UNKNOWN
            new.append(float(np.mean(into)))
            t_hit = np.maximum(t[first], expected_depth or 0.0)
            if ground is not None:
                down, height = -(d @ np.asarray(ground[0], np.float64)), float(o @ ground[0] + ground[1])
                falls = (down > 1e-6) & (height > 0)
                t_ground = np.minimum(height / np.where(falls, down, 1.0), t[-1])
                t_hit = np.where(falls, np.maximum(t[first], t_ground), t_hit)
            k_hit = np.minimum(np.searchsorted(t, t_hit), len(t) - 1)
            occ_before = np.cumsum(s == OCCUPIED, axis=1)[np.arange(len(s)), k_hit] > 0
            into &= ~occ_before
            hit = o + d[into] * t_hit[into, None]
            keys.append(np.floor((hit - self.origin) / self.voxel).astype(np.int64))
            ends = np.full((len(s), 3), NOWHERE, np.int64)
            on = stop == OCCUPIED
            ends[on] = ijk[np.flatnonzero(on), first[on]]
            ends[into] = keys[-1]
            hits.append(ends)
        voxels = np.unique(np.concatenate(keys), axis=0) if keys else np.zeros((0, 3), np.int64)
        return {"support": np.array(support), "new": np.array(new), "voxels": voxels, "hits": hits, "clear": clears,
                "dirs": rays_out}

    def occupied_keys(self, keys: np.ndarray) -> np.ndarray:
        """(P,) whether each voxel key (P, 3) (``NOWHERE`` rows and keys outside the grid: no) is occupied."""
        k = np.asarray(keys, np.int64)
        ok = np.all((k >= 0) & (k < np.array(self.shape)), -1)
        out = np.zeros(len(k), bool)
        out[ok] = self.occupied[k[ok, 0], k[ok, 1], k[ok, 2]]
        return out

    def counts(self) -> dict:
        """How many voxels are free, occupied and unknown (for the run record)."""
        free, occ = int(self.free.sum()), int(self.occupied.sum())
        return {"free": free, "occupied": occ, "unknown": int(np.prod(self.shape)) - free - occ,
                "voxel": round(self.voxel, 6), "shape": list(self.shape)}
