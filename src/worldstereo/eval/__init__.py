"""Evaluation: camera accuracy, image quality and point-cloud accuracy (REFERENCE.md definitions)."""

from .camera_metrics import ate, camera_metrics, pose_auc, rot_err, trans_err
from .lpips import LPIPSAlex, load_lpips, lpips
from .groundtruth import SyntheticGroundTruth
from .image_metrics import masked_scores, psnr, ssim, ssim_map
from .poses import CameraEstimate, backends, estimate_cameras, register_backend
from .pointcloud_metrics import (
    FScore, align_by_anchors, align_by_first_camera, chamfer, f_score, f_score_auc, f_score_curve, pointcloud_metrics,
    voxel_downsample,
)

__all__ = [
    "SyntheticGroundTruth",
    "ate", "camera_metrics", "pose_auc", "rot_err", "trans_err",
    "LPIPSAlex", "load_lpips", "lpips",
    "masked_scores", "psnr", "ssim", "ssim_map",
    "FScore", "align_by_anchors", "align_by_first_camera", "chamfer", "f_score", "f_score_auc", "f_score_curve",
    "pointcloud_metrics", "voxel_downsample",
    "CameraEstimate", "backends", "estimate_cameras", "register_backend",
]
