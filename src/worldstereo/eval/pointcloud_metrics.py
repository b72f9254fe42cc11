"""Point-cloud accuracy (Tanks and Temples style): alignment, precision / recall / F-score at a
threshold tau, the area under the F-score curve, and Chamfer distance.

Both clouds are voxel-downsampled at tau / 2 (Open3D, voxel centroids) before distances are taken
with KD-trees, as the Tanks and Temples evaluation does, so that dense regions do not dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy.spatial import cKDTree

from ..camera import Cameras
from ..geometry import Sim3, icp, umeyama


def _xyz(points: Any, name: str) -> np.ndarray:
    p = np.asarray(getattr(points, "xyz", points), dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise ValueError(f"{name}: expected a non-empty (P, 3) point array, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name}: contains non-finite coordinates; drop them first")
    return p


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """Centroid of the points in each occupied voxel (Open3D ``voxel_down_sample``)."""
    import open3d as o3d

    if voxel <= 0:
        return points
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    return np.asarray(pc.voxel_down_sample(voxel).points)


@dataclass(frozen=True)
class FScore:
    """Precision, recall and F-score at ``tau`` (plus the distances they came from)."""

    tau: float
    precision: float
    recall: float
    f1: float
    dist_rec_to_gt: np.ndarray
    dist_gt_to_rec: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {"tau": self.tau, "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def f_score(reconstruction: Any, ground_truth: Any, tau: float, downsample: bool = True) -> FScore:
    """Precision = share of reconstructed points within ``tau`` of the ground truth; recall = share
    of ground-truth points within ``tau`` of the reconstruction; F = 2PR / (P + R)."""
    if not tau > 0:
        raise ValueError(f"f_score: tau must be > 0, got {tau}")
    rec, gt = _xyz(reconstruction, "reconstruction"), _xyz(ground_truth, "ground_truth")
    if downsample:
        rec, gt = voxel_downsample(rec, tau / 2), voxel_downsample(gt, tau / 2)
    d_rg, _ = cKDTree(gt).query(rec)
    d_gr, _ = cKDTree(rec).query(gt)
    p, r = float(np.mean(d_rg < tau)), float(np.mean(d_gr < tau))
    return FScore(tau, p, r, _f(p, r), d_rg, d_gr)


def f_score_curve(score: FScore, tau_max: float, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """F-score at ``n`` thresholds evenly spaced in (0, tau_max], from one set of distances."""
    taus = np.linspace(tau_max / n, tau_max, n)
    p = (score.dist_rec_to_gt[None] < taus[:, None]).mean(1)
    r = (score.dist_gt_to_rec[None] < taus[:, None]).mean(1)
    f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0.0)
    return taus, f


def f_score_auc(score: FScore, tau_max: float, n: int = 100) -> float:
    """Area under F(tau) over tau in (0, tau_max], divided by tau_max so it lies in [0, 1]."""
    _, f = f_score_curve(score, tau_max, n)
    return float(f.mean())


def chamfer(reconstruction: Any, ground_truth: Any) -> float:
    """Symmetric Chamfer distance: mean nearest-neighbour distance both ways, averaged."""
    rec, gt = _xyz(reconstruction, "reconstruction"), _xyz(ground_truth, "ground_truth")
    return float(0.5 * (cKDTree(gt).query(rec)[0].mean() + cKDTree(rec).query(gt)[0].mean()))


def align_by_anchors(rec_anchor: Any, gt_anchor: Any, with_scale: bool = True) -> Sim3:
    """``gt_from_rec`` from point-to-point matched anchors (e.g. the first frame's pixels, paper §4.3)."""
    return umeyama(_xyz(rec_anchor, "rec_anchor"), _xyz(gt_anchor, "gt_anchor"), with_scale=with_scale)


def align_by_first_camera(reconstruction: Any, ground_truth: Any, rec_first: Cameras, gt_first: Cameras,
                          max_distance: Optional[float] = None) -> Sim3:
    """``gt_from_rec``: rotation and translation from the first cameras, then ICP with scale
    (paper §4.3, Tanks and Temples protocol).

    The scale is initialised by the ratio of median distances of the two clouds from the first
    camera centre: scaled ICP started far from the true scale tends to shrink the cloud instead.
    """
    rigid_init = Sim3.from_matrix(gt_first.world_from_cam[0] @ rec_first.cam_from_world[0])
    rec, gt = _xyz(reconstruction, "reconstruction"), _xyz(ground_truth, "ground_truth")
    center = gt_first.centers[0]
    moved = rigid_init.apply(rec)
    ratio = np.median(np.linalg.norm(gt - center, axis=1)) / max(np.median(np.linalg.norm(moved - center, axis=1)), 1e-12)
    about_camera = Sim3(float(ratio), np.eye(3), (1 - ratio) * center)
    return icp(rec, gt, init=about_camera @ rigid_init, with_scale=True, max_distance=max_distance).transform


def pointcloud_metrics(reconstruction: Any, ground_truth: Any, tau: float, tau_max: Optional[float] = None) -> dict:
    """Precision, recall, F1 at ``tau``, AUC of F over (0, tau_max] (default 2 tau) and Chamfer."""
    tau_max = 2 * tau if tau_max is None else tau_max
    s = f_score(reconstruction, ground_truth, tau)
    out = s.as_dict()
    out.update({"auc": f_score_auc(s, tau_max), "tau_max": tau_max, "chamfer": chamfer(reconstruction, ground_truth)})
    return out
