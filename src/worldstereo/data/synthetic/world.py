"""``Scene``: a textured triangle soup with ground-truth queries (surface samples, distances, depth).

World frame of a synthetic scene: OpenCV axes like every camera (x right, y down, z forward), so
"up" is -y and the floor / ground is the plane y = 0; units are metres.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ...camera import Cameras, intrinsics_from_fov, look_at
from .textures import TextureAtlas

if TYPE_CHECKING:
    import open3d as o3d


@dataclass(frozen=True)
class SurfaceSamples:
    """Ground-truth point cloud: points, colours in [0, 1], unit normals (P, 3) and object ids (P,)."""

    points: np.ndarray
    colors: np.ndarray
    normals: np.ndarray
    object_ids: np.ndarray


@dataclass(eq=False)
class Scene:
    """A procedural scene made by :func:`make_scene`.

    Geometry is a triangle soup: ``vertices`` (V, 3) float32, ``triangles`` (T, 3) int32,
    ``triangle_uvs`` (T, 3, 2) texture coordinates per corner, ``triangle_texture`` (T,) index
    into ``textures`` (M, S, S, 3) float32, ``triangle_object`` (T,) index into ``object_names``.
    ``solid_ids`` are watertight objects (they have an inside); ``background_ids`` are
    backdrops (sky dome, cyclorama) left out of ground-truth point clouds. Cameras are drawn with
    eyes in the box ``eye_region`` (2, 3) looking at points of ``target_region`` (2, 3).
    """

    seed: int
    kind: str
    vertices: np.ndarray
    triangles: np.ndarray
    triangle_uvs: np.ndarray
    triangle_texture: np.ndarray
    triangle_object: np.ndarray
    textures: np.ndarray
    object_names: tuple[str, ...]
    solid_ids: frozenset[int]
    background_ids: frozenset[int]
    eye_region: np.ndarray
    target_region: np.ndarray
    view_distance: tuple[float, float]
    size: float
    free_box: np.ndarray

    # -- identity ----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """SHA-256 of every array and name: equal fingerprints mean identical scenes."""
        h = hashlib.sha256(f"{self.seed}:{self.kind}:{self.object_names}".encode())
        for a in (self.vertices, self.triangles, self.triangle_uvs, self.triangle_texture, self.triangle_object, self.textures):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"Scene(kind={self.kind!r}, seed={self.seed}, triangles={len(self.triangles)}, "
                f"objects={len(self.object_names)}, size={self.size:.2f} m)")

    @cached_property
    def atlas(self) -> TextureAtlas:
        """The textures packed for fast bilinear lookup."""
        return TextureAtlas(self.textures)

    # -- Open3D ray casting ------------------------------------------------------------------
    @cached_property
    def raycaster(self) -> "o3d.t.geometry.RaycastingScene":
        """Open3D ray-casting scene of all triangles (geometry id 0; primitive id = triangle index)."""
        return _raycaster(self.vertices, self.triangles)

    @cached_property
    def _solid_raycaster(self) -> "o3d.t.geometry.RaycastingScene | None":
        mask = np.isin(self.triangle_object, list(self.solid_ids))
        if not mask.any():
            return None
        return _raycaster(self.vertices, self.triangles[mask])

    # -- ground-truth queries ----------------------------------------------------------------
    def min_distance(self, points: np.ndarray) -> np.ndarray:
        """(P,) unsigned distance in metres from each of (P, 3) points to the nearest surface."""
        import open3d as o3d

        pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        return self.raycaster.compute_distance(o3d.core.Tensor(pts)).numpy().astype(np.float64)

    def is_free(self, points: np.ndarray, margin: float = 0.1) -> np.ndarray:
        """(P,) True where a camera may stand: inside the scene's walkable volume, outside every solid
        object, and at least ``margin`` metres from any surface (the collision check for trajectories)."""
        import open3d as o3d

        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        ok = np.all((pts > self.free_box[0]) & (pts < self.free_box[1]), axis=1)
        ok &= self.min_distance(pts) >= margin
        if self._solid_raycaster is not None and ok.any():
            occ = self._solid_raycaster.compute_occupancy(o3d.core.Tensor(pts.astype(np.float32)), nsamples=3)
            ok &= occ.numpy() < 0.5
        return ok

    def median_depth(self, cameras: Cameras, max_side: int = 96) -> float:
        """Median z-depth of the surfaces seen by the first camera (rendered at <= ``max_side`` px)."""
        from .render import render

        cam = cameras[0]
        s = min(1.0, max_side / max(cam.width, cam.height))
        small = cam.resized(max(1, round(cam.width * s)), max(1, round(cam.height * s)))
        depth = render(self, small, shading="none").depth[0]
        valid = depth[depth > 0]
        if valid.size == 0:
            raise ValueError(f"median_depth: camera sees nothing of scene {self.kind}/{self.seed}; point it at the scene")
        return float(np.median(valid))

    def sample_surface(self, n: int, seed: int = 0, include_background: bool = False) -> SurfaceSamples:
        """``n`` points spread uniformly by area over the surfaces, with texture colours and normals.

        Backdrops (sky dome, cyclorama) are left out unless ``include_background``.
        """
        if n <= 0:
            raise ValueError(f"sample_surface: n must be > 0, got {n}")
        rng = np.random.default_rng(seed)
        keep = np.flatnonzero(~np.isin(self.triangle_object, list(self.background_ids)) | include_background)
        tri = self.vertices[self.triangles[keep]].astype(np.float64)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area = 0.5 * np.linalg.norm(cross, axis=1)
        pick = rng.choice(len(keep), size=n, p=area / area.sum())
        r1, r2 = rng.random(n), rng.random(n)
        flip = r1 + r2 > 1
        r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
        w = np.stack([1 - r1 - r2, r1, r2], 1)
        points = np.einsum("pk,pkc->pc", w, tri[pick])
        uv = np.einsum("pk,pkc->pc", w, self.triangle_uvs[keep[pick]].astype(np.float64))
        colors = self.atlas.sample(self.triangle_texture[keep[pick]], uv)
        normals = cross[pick] / np.linalg.norm(cross[pick], axis=1, keepdims=True)
        return SurfaceSamples(points, colors, normals, self.triangle_object[keep[pick]].copy())

    # -- viewpoints --------------------------------------------------------------------------
    def sample_camera(self, rng: np.random.Generator, width: int, height: int,
                      fov_deg: float = 60.0, margin: float = 0.3, tries: int = 200) -> Cameras:
        """One plausible camera: eye drawn in ``eye_region`` (free space), looking at a point of
        ``target_region`` at a distance within ``view_distance``, upright (image up = world -y)."""
        K = intrinsics_from_fov(fov_deg, width, height)
        for _ in range(tries):
            eye = rng.uniform(self.eye_region[0], self.eye_region[1])
            target = rng.uniform(self.target_region[0], self.target_region[1])
            dist = np.linalg.norm(target - eye)
            if not self.view_distance[0] <= dist <= self.view_distance[1] or not self.is_free(eye[None], margin)[0]:
                continue
            return Cameras(K, look_at(eye, target), width, height)
        raise ValueError(f"sample_camera: no free viewpoint found in {tries} tries for {self!r}; lower margin")


def _raycaster(vertices: np.ndarray, triangles: np.ndarray) -> "o3d.t.geometry.RaycastingScene":
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.ascontiguousarray(triangles, dtype=np.uint32)))
    return scene
