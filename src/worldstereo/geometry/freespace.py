"""Where a camera may go, as far as one view can tell: the large planar surfaces it sees (floor,
walls, ceiling) bound the free space; a camera path must stay on the viewer's side of each.

A wall seen in the input continues beyond the image, so a path that turns 90 degrees about a pivot
at the median depth can cross it even though the wall's visible part is never touched. Surfaces the
view does not see (a wall behind the camera) cannot be known and are not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SHARE = 0.05  # a bounding plane holds at least this share of the points
MAX_PLANES = 6
SAME_SURFACE_DEG = 15.0  # a plane this close in orientation to a stronger one is its remainder
INLIER = 0.01  # plane inlier distance, x scene depth
MARGIN = 0.02  # clearance a camera keeps from a bounding plane, x scene depth (about a camera body)
RANSAC_ITERS = 400
MAX_POINTS = 20_000


@dataclass(frozen=True)
class FreeSpace:
    """Half-spaces ``n . x + d >= margin`` (unit ``n``, rows of ``planes`` = (nx, ny, nz, d)) that
    every camera centre must satisfy; the origin (the input camera) is on the free side of each."""

    planes: np.ndarray
    margin: float

    @classmethod
    def from_points(cls, xyz: np.ndarray, scene_depth: float, seed: int = 0) -> "FreeSpace":
        """Bounding planes of the points ``xyz`` (P, 3) seen from the origin (seeded RANSAC, so the
        same points always give the same planes)."""
        rng = np.random.default_rng(seed)
        pts = np.asarray(xyz, dtype=np.float64)
        pts = pts[np.all(np.isfinite(pts), 1)]
        if len(pts) > MAX_POINTS:
            pts = pts[rng.choice(len(pts), MAX_POINTS, replace=False)]
        n0, thr, margin = len(pts), INLIER * scene_depth, MARGIN * scene_depth
        planes: list[np.ndarray] = []
        rest = pts
        while len(planes) < MAX_PLANES and len(rest) >= max(3, MIN_SHARE * n0):
            tri = rest[rng.integers(0, len(rest), (RANSAC_ITERS, 3))]
            nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            length = np.linalg.norm(nrm, axis=1)
            ok = length > 1e-12
            if not ok.any():
                break
            nrm = nrm[ok] / length[ok, None]
            off = -np.einsum("ij,ij->i", nrm, tri[ok, 0])
            best = int(np.argmax((np.abs(rest @ nrm.T + off) < thr).sum(0)))
            inl = np.abs(rest @ nrm[best] + off[best]) < thr
            if inl.sum() < MIN_SHARE * n0:
                break
            q = rest[inl]
            centre = q.mean(0)
            normal = np.linalg.svd(q - centre, full_matrices=False)[2][2]
            d = -float(normal @ centre)
            if d < 0:  # orient toward the viewer: the origin on the positive side
                normal, d = -normal, -d
            rest = rest[~inl]
            same = any(np.degrees(np.arccos(min(1.0, abs(float(normal @ p[:3]))))) < SAME_SURFACE_DEG for p in planes)
            if not same and d > margin:
                planes.append(np.append(normal, d))
        return cls(np.array(planes).reshape(-1, 4), margin)

    def clearance(self, centers: np.ndarray) -> np.ndarray:
        """(N,) distance of each centre to the nearest bounding plane minus the margin (< 0: outside)."""
        c = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
        if len(self.planes) == 0:
            return np.full(len(c), np.inf)
        return (c @ self.planes[:, :3].T + self.planes[:, 3]).min(1) - self.margin

    def scale(self, centers: np.ndarray) -> float:
        """The largest s <= 1 such that every ``s * centers`` keeps the margin (for a path that scales
        about the origin, like the presets scaled by their pivot depth); 1 when nothing bounds it."""
        c = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
        s = 1.0
        for p in self.planes:
            toward = c @ p[:3]  # how fast each centre approaches the plane as s grows
            hit = toward < 0
            if hit.any():
                s = min(s, float(np.min((p[3] - self.margin) / -toward[hit])))
        return max(s, 0.0)
