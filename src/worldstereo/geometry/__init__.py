"""Geometry core: point clouds, depth unprojection, point splatting, Sim(3) alignment, frustum
overlap and panorama <-> views. Imports nothing of ours but ``worldstereo.camera``."""

from .align import AlignResult, Sim3, icp, ransac_umeyama, umeyama
from .depth import contract_far_depth, depth_to_points, edge_confidence
from .frustum import (
    angle_penalty,
    frustum_box_iou,
    frustum_corners,
    frustum_overlap,
    frustum_volume,
    view_angles,
)
from .panorama import (
    equirect_depth_to_points,
    equirect_to_views,
    panorama_views,
    sample_equirect,
    views_to_equirect,
)
from .pointcloud import PointCloud, voxel_keep_indices
from .render import Render, default_radius, render_points

__all__ = [
    "AlignResult", "Sim3", "icp", "ransac_umeyama", "umeyama",
    "contract_far_depth", "depth_to_points", "edge_confidence",
    "angle_penalty", "frustum_box_iou", "frustum_corners", "frustum_overlap", "frustum_volume", "view_angles",
    "equirect_depth_to_points", "equirect_to_views", "panorama_views", "sample_equirect", "views_to_equirect",
    "PointCloud", "voxel_keep_indices",
    "Render", "default_radius", "render_points",
]
