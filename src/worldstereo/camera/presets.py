"""Trajectory presets, interpolation, smoothness checks and the paper's default plan (App. C).

Every preset starts at the input camera (frame 0 has ``cam_from_world = I``), keeps K fixed
(except ``zoom``), and works in the input camera's frame: OpenCV axes, so "up" is -y and
"left" is -x. Scene-scale arguments (``pivot_depth``, ``distance``…) are in depth units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, Slerp

from .cameras import Cameras
from .trajectory import CameraTrajectory
from .transforms import look_at, rigid, rotation_about_point

log = logging.getLogger(__name__)

DEFAULT_FRAMES = 81
DEFAULT_FPS = 16.0

# Axis and sign of the rotation about the pivot that moves the camera centre in each direction
# (right-hand rule, OpenCV axes): left = +y, right = -y, up = -x, down = +x.
_ROTATE_AXES = {
    "left": (np.array([0.0, 1.0, 0.0]), 1.0),
    "right": (np.array([0.0, 1.0, 0.0]), -1.0),
    "up": (np.array([1.0, 0.0, 0.0]), -1.0),
    "down": (np.array([1.0, 0.0, 0.0]), 1.0),
}


def _check_frames(n_frames: int) -> None:
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise ValueError(f"n_frames: must be an integer >= 2, got {n_frames!r}")


def _make(K: Any, width: int, height: int, cam_from_world: np.ndarray, name: str, kind: str, fps: float) -> CameraTrajectory:
    K = np.asarray(K, dtype=np.float64)
    if K.ndim == 2:
        K = np.broadcast_to(K, (len(cam_from_world), 3, 3))
    return CameraTrajectory(Cameras(K, cam_from_world, width, height), name=name, kind=kind, fps=fps)


def rotate(
    direction: str, degrees: float, pivot_depth: float, *, K: Any, width: int, height: int,
    n_frames: int = DEFAULT_FRAMES, fps: float = DEFAULT_FPS, name: str | None = None,
) -> CameraTrajectory:
    """Travel on a circle around the pivot (0, 0, pivot_depth), always looking at it.

    ``direction`` in {up, down, left, right} is where the camera centre goes ("left" toward -x,
    "up" toward -y); the whole rig turns rigidly about the pivot, so the camera-to-pivot
    distance stays ``pivot_depth`` and the pivot stays at the principal point.
    """
    if direction not in _ROTATE_AXES:
        raise ValueError(f"direction: {direction!r} is not one of {sorted(_ROTATE_AXES)}")
    if pivot_depth <= 0:
        raise ValueError(f"pivot_depth: must be > 0, got {pivot_depth}")
    _check_frames(n_frames)
    axis, sign = _ROTATE_AXES[direction]
    pivot = np.array([0.0, 0.0, pivot_depth])
    world_from_cam = [rotation_about_point(axis, sign * a, pivot) for a in np.linspace(0.0, degrees, n_frames)]
    return _make(K, width, height, np.linalg.inv(np.stack(world_from_cam)), name or direction, f"rotate_{direction}", fps)


def orbit(
    pivot_depth: float, radius_ratio: float = 0.3, *, K: Any, width: int, height: int,
    n_frames: int = DEFAULT_FRAMES, fps: float = DEFAULT_FPS, name: str | None = None,
) -> CameraTrajectory:
    """A closed circular loop of radius ``radius_ratio * pivot_depth`` looking at the pivot.

    The circle lies in the input camera's image plane (z = 0) and passes through the input
    camera so that frame 0 is the input view (the image-to-video condition); its centre is at
    (0, -r, 0), so the camera goes right, up over the optical axis, left and back down. The last
    frame equals the first.
    """
    if pivot_depth <= 0 or radius_ratio <= 0:
        raise ValueError(f"orbit: pivot_depth and radius_ratio must be > 0, got {pivot_depth}, {radius_ratio}")
    _check_frames(n_frames)
    r = radius_ratio * pivot_depth
    phi = np.linspace(0.0, 2 * np.pi, n_frames)
    centers = np.stack([r * np.sin(phi), -r * (1 - np.cos(phi)), np.zeros_like(phi)], 1)
    centers[-1] = 0.0  # exact closure, free of the cos/sin rounding at 2 pi
    pivot = np.array([0.0, 0.0, pivot_depth])
    return _make(K, width, height, np.stack([look_at(c, pivot) for c in centers]), name or "orbit", "orbit", fps)


def _linear(n_frames: int) -> np.ndarray:
    _check_frames(n_frames)
    return np.linspace(0.0, 1.0, n_frames)


def dolly(distance: float, *, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
          fps: float = DEFAULT_FPS, name: str | None = None) -> CameraTrajectory:
    """Move along the optical axis by ``distance`` (positive = forward, +z)."""
    T = [np.linalg.inv(rigid(np.eye(3), [0.0, 0.0, s * distance])) for s in _linear(n_frames)]
    return _make(K, width, height, np.stack(T), name or "dolly", "dolly", fps)


def truck(dx: float, dy: float = 0.0, *, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
          fps: float = DEFAULT_FPS, name: str | None = None) -> CameraTrajectory:
    """Translate sideways (``dx``, +x = right) and vertically (``dy``, +y = down) without rotating."""
    T = [np.linalg.inv(rigid(np.eye(3), [s * dx, s * dy, 0.0])) for s in _linear(n_frames)]
    return _make(K, width, height, np.stack(T), name or "truck", "truck", fps)


def pan(yaw: float, pitch: float = 0.0, *, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
        fps: float = DEFAULT_FPS, name: str | None = None) -> CameraTrajectory:
    """Rotate in place by ``yaw`` degrees (positive = look right) and ``pitch`` (positive = look up)."""
    T = []
    for s in _linear(n_frames):
        R = Rotation.from_euler("YX", [s * yaw, s * pitch], degrees=True).as_matrix()
        T.append(np.linalg.inv(rigid(R, np.zeros(3))))
    return _make(K, width, height, np.stack(T), name or "pan", "pan", fps)


def zoom(factor: float, *, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
         fps: float = DEFAULT_FPS, name: str | None = None) -> CameraTrajectory:
    """Scale the focal length geometrically from f to ``factor * f``; the camera does not move."""
    if factor <= 0:
        raise ValueError(f"zoom: factor must be > 0, got {factor}")
    K = np.asarray(K, dtype=np.float64)
    Ks = []
    for s in _linear(n_frames):
        k = K.copy()
        k[0, 0] *= factor**s
        k[1, 1] *= factor**s
        k[0, 1] *= factor**s
        Ks.append(k)
    return _make(np.stack(Ks), width, height, np.tile(np.eye(4), (n_frames, 1, 1)), name or "zoom", "zoom", fps)


def _interpolate(cams: Cameras, key_times: np.ndarray, times: np.ndarray) -> Cameras:
    """Rotations by piecewise SLERP, centres by a C2 cubic spline, K linearly, at ``times``."""
    W = cams.world_from_cam
    rot = Slerp(key_times, Rotation.from_matrix(W[:, :3, :3]))(times).as_matrix()
    if len(cams) > 2:
        centers = CubicSpline(key_times, W[:, :3, 3], bc_type="natural")(times)
    else:
        centers = np.stack([np.interp(times, key_times, W[:, i, 3]) for i in range(3)], 1)
    flat = cams.K.reshape(len(cams), 9)
    K = np.stack([np.interp(times, key_times, flat[:, i]) for i in range(9)], -1).reshape(-1, 3, 3)
    world_from_cam = np.tile(np.eye(4), (len(times), 1, 1))
    world_from_cam[:, :3, :3] = rot
    world_from_cam[:, :3, 3] = centers
    return Cameras.from_world_from_cam(K, world_from_cam, cams.width, cams.height)


def spline(keyframes: Cameras, n_frames: int = DEFAULT_FRAMES, times: Sequence[float] | None = None, *,
           fps: float = DEFAULT_FPS, name: str = "spline") -> CameraTrajectory:
    """A smooth path through key cameras: SLERP for rotation, a C2 cubic spline for position.

    ``times`` (increasing, one per keyframe) place the keyframes in [0, 1]; by default they are
    spaced by cumulative centre distance (chord length), or uniformly if the centres coincide.
    """
    if len(keyframes) < 2:
        raise ValueError(f"spline: need at least 2 keyframes, got {len(keyframes)}")
    _check_frames(n_frames)
    if times is None:
        gaps = np.linalg.norm(np.diff(keyframes.centers, axis=0), axis=1)
        times = np.concatenate([[0.0], np.cumsum(gaps)]) if gaps.min() > 0 else np.arange(len(keyframes), dtype=float)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (len(keyframes),) or np.any(np.diff(times) <= 0):
        raise ValueError(f"spline: times must be {len(keyframes)} strictly increasing values")
    times = (times - times[0]) / (times[-1] - times[0])
    cams = _interpolate(keyframes, times, np.linspace(0.0, 1.0, n_frames))
    return CameraTrajectory(cams, name=name, kind="spline", fps=fps)


def resample(traj: CameraTrajectory, n_frames: int) -> CameraTrajectory:
    """The same path at ``n_frames`` frames evenly spaced in time (first and last frames kept)."""
    _check_frames(n_frames)
    key_times = np.linspace(0.0, 1.0, len(traj))
    cams = _interpolate(traj.cameras, key_times, np.linspace(0.0, 1.0, n_frames))
    return traj.with_cameras(cams, fps=traj.fps * n_frames / len(traj))


@dataclass(frozen=True)
class SmoothnessReport:
    """Per-step jumps of a trajectory: ``angular_deg[i]`` and ``translation[i]`` go from frame i to i+1."""

    angular_deg: np.ndarray
    translation: np.ndarray
    rough_steps: tuple[int, ...]

    @property
    def smooth(self) -> bool:
        return not self.rough_steps


def check_smoothness(traj: CameraTrajectory, ratio: float = 3.0) -> SmoothnessReport:
    """Measure each step's rotation angle and centre displacement; warn where a step exceeds
    ``ratio`` times the median step (a jump the video model will not follow smoothly)."""
    R = traj.cameras.R
    rel = np.einsum("nij,nkj->nik", R[1:], R[:-1])
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    ang = np.degrees(np.arccos(cos))
    trans = np.linalg.norm(np.diff(traj.cameras.centers, axis=0), axis=1)
    rough = set()
    for values, unit, tol in ((ang, "deg", 1e-6), (trans, "units", 1e-9 * max(1.0, float(trans.max(initial=0))))):
        med = float(np.median(values)) if len(values) else 0.0
        for i in np.flatnonzero(values > max(ratio * med, tol)):
            rough.add(int(i))
            log.warning(
                "trajectory %r: step %d->%d moves %.4g %s, over %.1fx the median step (%.4g); "
                "smooth it with `resample` or `spline`",
                traj.name, i, i + 1, values[i], unit, ratio, med,
            )
    return SmoothnessReport(ang, trans, tuple(sorted(rough)))


PLAN_ORDER = ("orbit", "up", "right", "left")
PRESETS = ("orbit", "up", "down", "left", "right", "dolly", "truck", "pan", "zoom")
# The paper's rotation angles (App. C); 45 degrees for down by symmetry with up.
PRESET_DEGREES = {"up": 45.0, "down": 45.0, "left": 90.0, "right": 90.0}


def preset(name: str, median_depth: float, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
           fps: float = DEFAULT_FPS, degrees: float | None = None, radius_ratio: float = 0.3,
           distance: float | None = None, dx: float | None = None, dy: float = 0.0, yaw: float = 30.0,
           pitch: float = 0.0, factor: float = 1.5) -> CameraTrajectory:
    """A named preset scaled to a scene: rotations pivot at ``median_depth`` (App. C angles unless
    ``degrees``), the orbit radius is ``radius_ratio`` x depth, dolly/truck move 0.3 x depth unless told."""
    common = dict(K=K, width=width, height=height, n_frames=n_frames, fps=fps)
    if name == "orbit":
        return orbit(median_depth, radius_ratio, **common)
    if name in PRESET_DEGREES:
        return rotate(name, PRESET_DEGREES[name] if degrees is None else degrees, median_depth, **common)
    if name == "dolly":
        return dolly(0.3 * median_depth if distance is None else distance, **common)
    if name == "truck":
        return truck(0.3 * median_depth if dx is None else dx, dy, **common)
    if name == "pan":
        return pan(yaw, pitch, **common)
    if name == "zoom":
        return zoom(factor, **common)
    raise ValueError(f"preset {name!r} is not one of {', '.join(PRESETS)}")


def default_plan(median_depth: float, K: Any, width: int, height: int, n_frames: int = DEFAULT_FRAMES,
                 fps: float = DEFAULT_FPS) -> list[CameraTrajectory]:
    """The paper's reconstruction plan (App. C): orbit -> up 45 -> right 90 -> left 90.

    Rotations pivot at the scene's median depth; the orbit radius is 0.3 x median depth.
    """
    common = dict(K=K, width=width, height=height, n_frames=n_frames, fps=fps)
    return [
        orbit(median_depth, 0.3, **common),
        rotate("up", 45.0, median_depth, **common),
        rotate("right", 90.0, median_depth, **common),
        rotate("left", 90.0, median_depth, **common),
    ]
