"""Cameras from JOG3R pairwise pointmaps: focal from X^{1,1}, weighted Procrustes of X^{f,f} onto X^{f,1}.

World frame = frame 0's camera (DESIGN §5: the input camera), so frame 0 gets cam_from_world = I.
All maths in float64 numpy on small arrays (one latent-resolution pointmap per frame).
"""

from __future__ import annotations

import numpy as np

from ..camera import Cameras
from ..geometry.align import umeyama
from .pose_head import PointmapPrediction


def estimate_focal(points: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Focal length in pixels of the pointmap grid, principal point at the centre, from (H, W, 3) camera points.

    Least squares of ``p ≈ f · (x/z, y/z)`` with p the pixel centre (j + 0.5, i + 0.5) minus (W/2, H/2):
    f = Σ w p·q / Σ w q·q (closed form; DUSt3R solves the same with Weiszfeld iterations).
    """
    h, w = points.shape[:2]
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    wt = np.ones(len(pts)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    jj, ii = np.meshgrid(np.arange(w) + 0.5 - w / 2, np.arange(h) + 0.5 - h / 2)
    p = np.stack([jj.reshape(-1), ii.reshape(-1)], 1)
    ok = pts[:, 2] > 1e-6
    if ok.sum() < 3:
        raise ValueError("estimate_focal: fewer than 3 points in front of the camera")
    q = pts[ok, :2] / pts[ok, 2:3]
    f = float((wt[ok] * (p[ok] * q).sum(1)).sum() / (wt[ok] * (q * q).sum(1)).sum())
    if not np.isfinite(f) or f <= 0:
        raise ValueError("estimate_focal: the pointmap gives no positive focal length (is the pose head trained?)")
    return f


def register_cameras(pred: PointmapPrediction, width: int, height: int, batch_index: int = 0,
                     K: np.ndarray | None = None) -> Cameras:
    """Per-frame cameras (F = P + 1) of one batch item, for images of ``width`` × ``height`` pixels.

    Frame f's camera: the similarity taking X^{f,f} onto X^{f,1} (weights C^{f,1}·C^{f,f}) gives
    cam0_from_camf; its scale only reconciles the two pointmaps' units and is dropped. The shared focal
    comes from all X^{1,1} maps (confidence-weighted), rescaled from the pointmap grid to ``width``,
    unless ``K`` (3, 3, pixels of ``width`` x ``height``) is known: then it is used as is.
    """
    def np_(x):
        return x[batch_index].detach().float().cpu().numpy()

    X11, C11, Xf1, Cf1, Xff, Cff = (np_(getattr(pred, k)) for k in ("X11", "C11", "Xf1", "Cf1", "Xff", "Cff"))
    p, _, gh, gw = X11.shape
    if K is None:
        focal_grid = float(np.mean([estimate_focal(X11[i].transpose(1, 2, 0), C11[i]) for i in range(p)]))
        K = np.array([[focal_grid * width / gw, 0, width / 2], [0, focal_grid * height / gh, height / 2], [0, 0, 1]])
    world_from_cam = [np.eye(4)]
    for i in range(p):
        sim = umeyama(Xff[i].reshape(3, -1).T, Xf1[i].reshape(3, -1).T, weights=(Cf1[i] * Cff[i]).reshape(-1))
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = sim.R, sim.t
        world_from_cam.append(T)
    return Cameras.from_world_from_cam(np.repeat(K[None], p + 1, 0), np.stack(world_from_cam), width, height)
