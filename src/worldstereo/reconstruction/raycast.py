"""Exact mesh renders by ray casting (Open3D ``RaycastingScene``): z-depth, face id, barycentrics.

Used for quality metrics, texture visibility and the hybrid method's per-region choice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..camera import Cameras
from .result import Mesh


@dataclass
class MeshRender:
    """depth (N, H, W) z-depth, 0 = background; face (N, H, W) int64, -1 = background;
    bary (N, H, W, 2) Open3D barycentrics (weights of vertices 1 and 2 of the face)."""

    depth: np.ndarray
    face: np.ndarray
    bary: np.ndarray

    def interpolate(self, mesh: Mesh, values: np.ndarray) -> np.ndarray:
        """Per-vertex ``values`` (V, C) interpolated at every pixel -> (N, H, W, C), 0 on background."""
        hit = self.face >= 0
        f = mesh.faces[np.where(hit, self.face, 0)]
        b1, b2 = self.bary[..., 0:1], self.bary[..., 1:2]
        out = (1 - b1 - b2) * values[f[..., 0]] + b1 * values[f[..., 1]] + b2 * values[f[..., 2]]
        return np.where(hit[..., None], out, 0)


class MeshCaster:
    """A mesh ready to be ray cast from many cameras."""

    def __init__(self, mesh: Mesh):
        import open3d as o3d

        self.mesh = mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        if len(mesh.faces):
            self.scene.add_triangles(
                o3d.core.Tensor(mesh.vertices.astype(np.float32)), o3d.core.Tensor(mesh.faces.astype(np.uint32))
            )

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> dict:
        """Rays (R, 3) + (R, 3) -> Open3D ``cast_rays`` answer as numpy arrays."""
        import open3d as o3d

        rays = np.concatenate([origins, directions], 1).astype(np.float32)
        ans = self.scene.cast_rays(o3d.core.Tensor(rays))
        return {k: v.numpy() for k, v in ans.items()}

    def render(self, cams: Cameras) -> MeshRender:
        H, W = cams.height, cams.width
        j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        pix = np.stack([j.ravel(), i.ravel()], 1)
        depth, face, bary = [], [], []
        for k in range(len(cams)):
            far = cams[k].unproject(pix, np.ones((1, len(pix))))[0]
            origin = np.broadcast_to(cams.centers[k], far.shape)
            # direction with unit z in the camera: the hit distance is the z-depth
            ans = self.cast(origin, far - origin)
            t = ans["t_hit"]
            hit = np.isfinite(t)
            depth.append(np.where(hit, t, 0).reshape(H, W))
            fid = ans["primitive_ids"].astype(np.int64)
            face.append(np.where(hit, fid, -1).reshape(H, W))
            bary.append(ans["primitive_uvs"].reshape(H, W, 2))
        return MeshRender(np.stack(depth).astype(np.float32), np.stack(face), np.stack(bary).astype(np.float64))

    def closest(self, points: np.ndarray) -> dict:
        """Closest surface points of (P, 3) queries: ``points``, ``primitive_ids``, ``primitive_uvs``."""
        import open3d as o3d

        ans = self.scene.compute_closest_points(o3d.core.Tensor(points.astype(np.float32)))
        return {k: v.numpy() for k, v in ans.items()}


def visible_points(points: np.ndarray, cams: Cameras, render: MeshRender, rel_tol: float = 0.01) -> np.ndarray:
    """(N, P) bool: point inside each image and not occluded (its depth within ``rel_tol`` of the
    mesh render there)."""
    uv, z = cams.project(points)
    H, W = cams.height, cams.width
    col = np.clip(np.floor(uv[..., 0]), 0, W - 1).astype(int)
    row = np.clip(np.floor(uv[..., 1]), 0, H - 1).astype(int)
    inside = (z > 0) & (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    rd = render.depth[np.arange(len(cams))[:, None], row, col]
    return inside & (rd > 0) & (np.abs(rd - z) <= rel_tol * np.maximum(z, 1e-9) + 1e-6)


def visible_vertices(mesh: Mesh, cams: Cameras, render: MeshRender, rel_tol: float = 0.01) -> np.ndarray:
    """(N, V) bool: :func:`visible_points` of the mesh's vertices."""
    return visible_points(mesh.vertices, cams, render, rel_tol)


def sample_frames(frames: np.ndarray, cams: Cameras, points: np.ndarray) -> np.ndarray:
    """Bilinear colours (N, P, 3) of world points (P, 3) in every frame (N, H, W, 3); no visibility test."""
    import cv2

    uv, _ = cams.project(points)
    uv = np.nan_to_num(uv, nan=-1.0, posinf=-1.0, neginf=-1.0).clip(-1e4, 1e4)
    P = len(points)
    cols = 1024  # OpenCV maps must stay below 32767 columns: sample a (rows, 1024) map
    rows = -(-P // cols)
    out = np.zeros((len(cams), P, 3), np.float32)
    if P == 0:  # an empty mesh: OpenCV refuses an empty map
        return out
    for k in range(len(cams)):
        m = np.zeros((rows * cols, 2), np.float32)
        m[:P] = uv[k] - 0.5
        m = m.reshape(rows, cols, 2)
        out[k] = cv2.remap(frames[k], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)[:P]
    return out


def vertex_colors_from_views(mesh: Mesh, frames: np.ndarray, cams: Cameras, render: MeshRender | None = None) -> np.ndarray:
    """(V, 3) colours: per-vertex median over the views where the vertex is visible (grey if none)."""
    render = render or MeshCaster(mesh).render(cams)
    vis = visible_vertices(mesh, cams, render, rel_tol=0.02)
    cols = sample_frames(frames, cams, mesh.vertices)
    cols = np.where(vis[..., None], cols, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns = never-seen vertices
        med = np.nanmedian(cols, axis=0)
    return np.nan_to_num(med, nan=0.5).astype(np.float32)
