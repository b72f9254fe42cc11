"""Camera accuracy of a video: RotErr, TransErr (CamI2V convention), ATE (evo's Sim(3) APE), pose AUC.

Inputs are ``Cameras`` or ``CameraTrajectory`` with the same number of frames: ``estimated`` (e.g. poses
recovered from a generated video) and ``target`` (the cameras it was asked to follow). World frames may
differ: RotErr/TransErr compare motion relative to frame 0, ATE aligns with Sim(3) first.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ..camera import Cameras, CameraTrajectory
from ..geometry import umeyama

CameraLike = Union[Cameras, CameraTrajectory]
REDUCTIONS = ("sum", "mean")
UNITS = ("rad", "deg")
SCALES = ("max_norm", "sim3", "none")


def _cams(x: CameraLike, name: str) -> Cameras:
    if isinstance(x, CameraTrajectory):
        return x.cameras
    if isinstance(x, Cameras):
        return x
    raise TypeError(f"{name}: expected Cameras or CameraTrajectory, got {type(x).__name__}")


def _pair(estimated: CameraLike, target: CameraLike) -> tuple[Cameras, Cameras]:
    est, tgt = _cams(estimated, "estimated"), _cams(target, "target")
    if len(est) != len(tgt):
        raise ValueError(f"camera metrics: estimated has {len(est)} frames, target {len(tgt)}; they must match")
    return est, tgt


def _check(value: str, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


def relative_to_first(cams: Cameras) -> np.ndarray:
    """(N, 4, 4) ``cam_i_from_cam_0``: every camera expressed in frame 0's camera frame."""
    return cams.cam_from_world @ cams.world_from_cam[0]


def geodesic_angles(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """(N,) angle in radians of ``R_a[i]^T R_b[i]`` (the rotation taking one to the other)."""
    cos = (np.einsum("nji,nji->n", R_a, R_b) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _reduce(values: np.ndarray, reduction: str) -> float:
    return float(values.sum() if reduction == "sum" else values.mean())


def rot_err(estimated: CameraLike, target: CameraLike, reduction: str = "sum", unit: str = "rad") -> float:
    """Sum (or mean) over frames of the geodesic angle between estimated and target rotations,
    both made relative to frame 0 (CamI2V / CameraCtrl convention: sum, radians)."""
    _check(reduction, REDUCTIONS, "reduction")
    _check(unit, UNITS, "unit")
    est, tgt = _pair(estimated, target)
    ang = geodesic_angles(relative_to_first(est)[:, :3, :3], relative_to_first(tgt)[:, :3, :3])
    return _reduce(np.degrees(ang) if unit == "deg" else ang, reduction)


def _relative_centers(cams: Cameras) -> np.ndarray:
    """(N, 3) camera centres in frame 0's camera frame."""
    rel = relative_to_first(cams)
    R, t = rel[:, :3, :3], rel[:, :3, 3]
    return -np.einsum("nji,nj->ni", R, t)


def trans_err(estimated: CameraLike, target: CameraLike, reduction: str = "sum", scale: str = "max_norm") -> float:
    """Sum (or mean) over frames of ``||c_est - c_gt||`` of camera centres relative to frame 0.

    ``scale``: ``max_norm`` divides each trajectory by its own largest centre distance from frame 0
    (CamI2V); ``sim3`` aligns estimated to target centres with Umeyama first (target units);
    ``none`` compares raw units. A trajectory that never moves is left unscaled.
    """
    _check(reduction, REDUCTIONS, "reduction")
    _check(scale, SCALES, "scale")
    est, tgt = _pair(estimated, target)
    ce, cg = _relative_centers(est), _relative_centers(tgt)
    if scale == "max_norm":
        ce = ce / max(np.linalg.norm(ce, axis=1).max(), 1e-12)
        cg = cg / max(np.linalg.norm(cg, axis=1).max(), 1e-12)
    elif scale == "sim3":
        ce = umeyama(ce, cg, with_scale=True).apply(ce)
    return _reduce(np.linalg.norm(ce - cg, axis=1), reduction)


def ate(estimated: CameraLike, target: CameraLike, with_scale: bool = True) -> float:
    """Absolute trajectory error: RMSE of camera centres after Sim(3) Umeyama alignment of the
    estimated centres onto the target's (evo ``ape --align --correct_scale``), in target units."""
    est, tgt = _pair(estimated, target)
    ce, cg = est.centers, tgt.centers
    aligned = umeyama(ce, cg, with_scale=with_scale).apply(ce)
    return float(np.sqrt(np.mean(np.sum((aligned - cg) ** 2, axis=1))))


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = np.einsum("...i,...i->...", a, b) / np.maximum(na * nb, 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def pose_auc(estimated: CameraLike, target: CameraLike, thresholds: Sequence[int] = (3, 5, 15, 30)) -> dict[str, float]:
    """VGGT-style AUC over all frame pairs: per pair the larger of the relative-rotation error and
    the relative-translation direction error (degrees); AUC@T is the mean accuracy over 1°..T° bins."""
    est, tgt = _pair(estimated, target)
    n = len(est)
    i, j = np.triu_indices(n, k=1)
    if len(i) == 0:
        raise ValueError("pose_auc: need at least 2 frames")
    rel_e = est.cam_from_world[j] @ est.world_from_cam[i]
    rel_g = tgt.cam_from_world[j] @ tgt.world_from_cam[i]
    r_err = np.degrees(geodesic_angles(rel_e[:, :3, :3], rel_g[:, :3, :3]))
    t_err = _angle_between(rel_e[:, :3, 3], rel_g[:, :3, 3])
    # a direction is undefined for pairs that do not move; judge them by rotation alone
    still = np.linalg.norm(rel_g[:, :3, 3], axis=1) < 1e-9
    t_err = np.where(still, 0.0, t_err)
    err = np.maximum(r_err, t_err)
    out = {}
    for T in thresholds:
        hist, _ = np.histogram(err, bins=np.arange(T + 1))
        out[f"auc@{T}"] = float(np.mean(np.cumsum(hist) / len(err)))
    return out


def camera_metrics(estimated: CameraLike, target: CameraLike, reduction: str = "sum", unit: str = "rad",
                   scale: str = "max_norm") -> dict:
    """RotErr, TransErr and ATE with the settings used (defaults: the CamI2V convention — sums over
    frames, radians, each trajectory scaled by its own max centre distance), plus pose AUCs."""
    out = {
        "rot_err": rot_err(estimated, target, reduction, unit),
        "trans_err": trans_err(estimated, target, reduction, scale),
        "ate": ate(estimated, target),
        "reduction": reduction,
        "unit": unit,
        "scale": scale,
        "n_frames": len(_cams(target, "target")),
    }
    out.update(pose_auc(estimated, target))
    return out
