"""TSDF fusion of per-frame depth (Open3D 0.19 ``ScalableTSDFVolume``) and marching cubes.

Open3D puts pixel centres at integer coordinates; ours are at +0.5 (DESIGN §5), so the
principal point is shifted by -0.5 when intrinsics are handed over.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

import numpy as np

from ..camera import Cameras
from .result import Mesh, PointCloud, cloud_from_open3d

log = logging.getLogger(__name__)


def open3d_intrinsic(K: np.ndarray, width: int, height: int):
    """Open3D ``PinholeCameraIntrinsic`` of our K (principal point moved to integer pixel centres)."""
    import open3d as o3d

    return o3d.camera.PinholeCameraIntrinsic(width, height, K[0, 0], K[1, 1], K[0, 2] - 0.5, K[1, 2] - 0.5)


def depth_points(depth: np.ndarray, cams: Cameras, frames: Optional[np.ndarray] = None) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """World points (P, 3) of every valid depth pixel of (N, H, W) depth, and their colours (P, 3)."""
    N, H, W = depth.shape
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    d = depth.reshape(N, -1).astype(np.float64)
    pts = cams.unproject(pix, d)
    valid = d > 0
    cols = frames.reshape(N, -1, 3)[valid] if frames is not None else None
    return pts[valid], cols


def voxel_size_for(points: np.ndarray, cams: Cameras, resolution: int, median_depth: float) -> tuple[float, float]:
    """(voxel size, robust scene diagonal): ``max(diagonal / (2 resolution), pixel footprint)``.

    The diagonal is that of the 1st-99th percentile box of the points; the pixel footprint is
    the median depth over the mean focal length (finer voxels than that add no detail).
    """
    lo, hi = np.percentile(points, [1, 99], axis=0)
    diag = float(np.linalg.norm(hi - lo))
    footprint = median_depth / float(np.mean(cams.K[:, 0, 0]))
    return max(diag / (2 * resolution), footprint), diag


def tsdf_fuse(
    depth: np.ndarray, frames: np.ndarray, cams: Cameras, voxel: float, *, trunc_voxels: float = 4.0,
    max_depth: Optional[float] = None, progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[Mesh, PointCloud]:
    """Fuse depth (N, H, W) + frames (N, H, W, 3) into a mesh (marching cubes) and a point cloud.

    The point cloud is the TSDF's zero crossing (with normals from the TSDF gradient and fused colours).
    """
    import open3d as o3d

    vol = o3d.pipelines.integration.ScalableTSDFVolume(
        voxel_length=voxel, sdf_trunc=trunc_voxels * voxel, color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8
    )
    far = max_depth if max_depth is not None else float(depth.max()) * 1.01 + 1e-6
    for k in range(len(cams)):
        color = o3d.geometry.Image(np.ascontiguousarray((np.clip(frames[k], 0, 1) * 255 + 0.5).astype(np.uint8)))
        dimg = o3d.geometry.Image(np.ascontiguousarray(depth[k].astype(np.float32)))
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            color, dimg, depth_scale=1.0, depth_trunc=far, convert_rgb_to_intensity=False
        )
        vol.integrate(rgbd, open3d_intrinsic(cams.K[k], cams.width, cams.height), cams.cam_from_world[k])
        if progress:
            progress(k + 1, len(cams))
    m = vol.extract_triangle_mesh()
    m.compute_vertex_normals()
    pcd = vol.extract_point_cloud()
    log.info("TSDF voxel %.4g: raw mesh of %d vertices, %d faces (before refinement); %d points", voxel, len(m.vertices), len(m.triangles), len(pcd.points))
    return Mesh.from_open3d(m), cloud_from_open3d(pcd)
