"""Evaluation metrics: camera accuracy, image quality, point-cloud accuracy (REFERENCE.md definitions),
cross-trajectory consistency and synthetic ground truth. Pure functions of arrays, cameras and scenes,
below ``pipelines`` (which scores runs with them); the benchmark runners that build pipelines live a
floor up, in :mod:`worldstereo.bench`."""

from . import pose_head as _pose_head  # noqa: F401  (registers the ``pose-head`` backend)
from .camera_metrics import ate, camera_metrics, pose_auc, rot_err, trans_err
from .consistency import (
    PairConsistency,
    TrajectoryView,
    cross_trajectory_consistency,
    matching_frames,
    pair_consistency,
)
from .groundtruth import SyntheticGroundTruth
from .image_metrics import gradient_energy, masked_scores, psnr, ssim, ssim_map
from .lpips import LPIPSAlex, load_lpips, lpips
from .pointcloud_metrics import (
    FScore,
    align_by_anchors,
    align_by_first_camera,
    chamfer,
    f_score,
    f_score_auc,
    f_score_curve,
    pointcloud_metrics,
    voxel_downsample,
)
from .poses import CameraEstimate, backends, estimate_cameras, register_backend

__all__ = [
    "SyntheticGroundTruth",
    "ate", "camera_metrics", "pose_auc", "rot_err", "trans_err",
    "LPIPSAlex", "load_lpips", "lpips",
    "gradient_energy", "masked_scores", "psnr", "ssim", "ssim_map",
    "FScore", "align_by_anchors", "align_by_first_camera", "chamfer", "f_score", "f_score_auc", "f_score_curve",
    "pointcloud_metrics", "voxel_downsample",
    "PairConsistency", "TrajectoryView", "cross_trajectory_consistency", "matching_frames", "pair_consistency",
    "CameraEstimate", "backends", "estimate_cameras", "register_backend",
]
