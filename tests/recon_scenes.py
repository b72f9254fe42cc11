"""Ground-truth scenes for the reconstruction tests and ``benchmarks/bench_recon.py``.

A textured room (inward-facing walls, floor, ceiling) with a rotated cube and a sphere at the
pivot, ray-cast exactly with Open3D's ``RaycastingScene`` along the four trajectories of
``worldstereo.camera.default_plan``. Colours come from a procedural 3D value-noise field (several
octaves of trilinearly interpolated random colours), so every surface carries the texture that
multi-view stereo needs, and a surface point has the same colour from every view (Lambertian).

The ground-truth point cloud is the union of the ray-cast surface points of every frame, kept where
at least ``MIN_GT_VIEWS`` = 3 frames see the point: the part of the scene that multi-view
reconstruction from these frames can recover (a surface seen once has no parallax). With 11
frames per trajectory about a fifth of the once-or-twice-seen surface (ends of the 90 degree
sweeps) is left out by this rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy.ndimage import map_coordinates

from worldstereo.camera import CameraTrajectory, Cameras, default_plan, intrinsics_from_fov

PIVOT_DEPTH = 2.0
ROOM_HALF = 3.5
MIN_GT_VIEWS = 3


@dataclass
class SyntheticScene:
    """Frames (N, H, W, 3) float32, depth (N, H, W) float32 z-depth, cameras, trajectories, GT points (P, 3)."""

    frames: np.ndarray
    depth: np.ndarray
    cameras: Cameras
    trajectories: list[CameraTrajectory]
    gt_points: np.ndarray
    mesh: o3d.geometry.TriangleMesh

    @property
    def diagonal(self) -> float:
        return float(np.linalg.norm(self.gt_points.max(0) - self.gt_points.min(0)))


def _room_mesh() -> o3d.geometry.TriangleMesh:
    c = np.array([0.0, 0.0, PIVOT_DEPTH])
    room = o3d.geometry.TriangleMesh.create_box(2 * ROOM_HALF, 2 * ROOM_HALF, 2 * ROOM_HALF)
    room.translate(c - ROOM_HALF)
    room.triangles = o3d.utility.Vector3iVector(np.asarray(room.triangles)[:, ::-1].copy())  # face inward
    cube = o3d.geometry.TriangleMesh.create_box(0.9, 0.9, 0.9)
    cube.translate(-np.full(3, 0.45))
    cube.rotate(o3d.geometry.get_rotation_matrix_from_xyz((0.3, 0.6, 0.1)), center=np.zeros(3))
    cube.translate(c + np.array([-0.3, 0.2, 0.0]))
    sphere = o3d.geometry.TriangleMesh.create_sphere(0.4, resolution=24)
    sphere.translate(c + np.array([0.7, -0.3, -0.6]))
    mesh = room + cube + sphere
    mesh.compute_triangle_normals()
    return mesh


class NoiseTexture:
    """Colour field R^3 -> [0, 1]^3: sum of value-noise octaves on a lattice around the room."""

    def __init__(self, seed: int = 0, base_cell: float = 0.6, octaves: int = 4):
        rng = np.random.default_rng(seed)
        self.lo = np.array([0.0, 0.0, PIVOT_DEPTH]) - ROOM_HALF - 0.1
        extent = 2 * ROOM_HALF + 0.2
        self.grids, self.cells = [], []
        for o in range(octaves):
            cell = base_cell / 2**o
            n = int(np.ceil(extent / cell)) + 2
            self.grids.append(rng.uniform(0, 1, size=(3, n, n, n)))
            self.cells.append(cell)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        out = np.zeros((len(points), 3))
        total = 0.0
        for o, (grid, cell) in enumerate(zip(self.grids, self.cells)):
            coords = ((points - self.lo) / cell).T
            w = 0.6**o
            out += w * np.stack([map_coordinates(grid[c], coords, order=1, mode="nearest") for c in range(3)], 1)
            total += w
        out /= total
        # stretch the contrast: an average of octaves is greyish, MVS wants strong texture
        return np.clip((out - 0.5) * 2.2 + 0.5, 0, 1)


def _render(mesh: o3d.geometry.TriangleMesh, cams: Cameras, texture: NoiseTexture):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    H, W = cams.height, cams.width
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([jj.ravel(), ii.ravel()], 1)
    frames, depths = [], []
    for k in range(len(cams)):
        # rays with unit z in camera space: the hit distance t is then the z-depth itself
        far = cams[k].unproject(pix, np.ones((1, len(pix))))[0]
        origin = cams.centers[k]
        rays = np.concatenate([np.broadcast_to(origin, far.shape), far - origin], 1).astype(np.float32)
        t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        hit = np.isfinite(t)
        pts = origin + (far - origin) * np.where(hit, t, 0)[:, None]
        col = np.where(hit[:, None], texture(pts), 0.0)
        frames.append(col.reshape(H, W, 3).astype(np.float32))
        depths.append(np.where(hit, t, 0).reshape(H, W).astype(np.float32))
    return np.stack(frames), np.stack(depths)


def make_scene(width: int = 128, height: int = 96, n_frames: int = 11, seed: int = 0) -> SyntheticScene:
    """The room rendered along ``default_plan`` (orbit, up 45, right 90, left 90), ``n_frames`` each."""
    K = intrinsics_from_fov(70.0, width, height)
    trajs = default_plan(PIVOT_DEPTH, K, width, height, n_frames)
    cams = Cameras.concat([t.cameras for t in trajs])
    mesh = _room_mesh()
    frames, depth = _render(mesh, cams, NoiseTexture(seed))
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([jj.ravel(), ii.ravel()], 1)
    pts = cams.unproject(pix, depth.reshape(len(cams), -1))
    gt = pts[depth.reshape(len(cams), -1) > 0]
    gt = np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(gt)).voxel_down_sample(0.01).points)
    gt = gt[visibility_count(gt, cams, depth) >= MIN_GT_VIEWS]
    return SyntheticScene(frames, depth, cams, trajs, gt, mesh)


def visibility_count(points: np.ndarray, cams: Cameras, depth: np.ndarray) -> np.ndarray:
    """(P,) number of frames in which each point is inside the image and not occluded (3 % depth test)."""
    uv, z = cams.project(points)
    H, W = cams.height, cams.width
    count = np.zeros(len(points), np.int64)
    for k in range(len(cams)):
        u, v = uv[k, :, 0], uv[k, :, 1]
        inside = (z[k] > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        d = np.zeros(len(points))
        d[inside] = depth[k][v[inside].astype(int), u[inside].astype(int)]
        count += inside & (np.abs(d - z[k]) < 0.03 * z[k])
    return count


def f1_score(pred: np.ndarray, gt: np.ndarray, tau: float) -> dict:
    """Tanks-and-Temples F1: both clouds voxel-downsampled at tau/2, then precision/recall at tau."""
    def down(p):
        return np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p)).voxel_down_sample(tau / 2).points)

    from scipy.spatial import cKDTree

    pred, gt = down(pred), down(gt)
    precision = float((cKDTree(gt).query(pred)[0] < tau).mean()) if len(pred) else 0.0
    recall = float((cKDTree(pred).query(gt)[0] < tau).mean()) if len(pred) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def render_panoramas(cams: Cameras, height: int = 64, seed: int = 0) -> np.ndarray:
    """Equirectangular frames (N, H, 2H, 3) of the room from the centres of ``cams`` (panorama
    axes = each camera's axes, the convention of ``worldstereo.camera.panorama``)."""
    from worldstereo.camera.panorama import equirect_directions

    scene = o3d.t.geometry.RaycastingScene()
    mesh = _room_mesh()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    texture = NoiseTexture(seed)
    d_cam = equirect_directions(height, 2 * height).numpy().reshape(-1, 3)
    out = []
    for k in range(len(cams)):
        d = d_cam @ cams.world_from_cam[k, :3, :3].T
        o = np.broadcast_to(cams.centers[k], d.shape)
        t = scene.cast_rays(o3d.core.Tensor(np.concatenate([o, d], 1).astype(np.float32)))["t_hit"].numpy()
        out.append(texture(o + d * t[:, None]).reshape(height, 2 * height, 3).astype(np.float32))
    return np.stack(out)
