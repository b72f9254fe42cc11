"""Rigid-transform constructors in the project convention (OpenCV axes, 4x4 cam_from_world)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform from a 3x3 rotation and a translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def rotation_about_point(axis: np.ndarray, degrees: float, point: np.ndarray) -> np.ndarray:
    """4x4 world transform rotating by ``degrees`` (right-hand rule) about ``axis`` through ``point``."""
    R = Rotation.from_rotvec(np.radians(degrees) * np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)).as_matrix()
    p = np.asarray(point, dtype=np.float64)
    return rigid(R, p - R @ p)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, -1.0, 0.0])) -> np.ndarray:
    """4x4 cam_from_world of a camera at ``eye`` looking at ``target`` (OpenCV axes).

    ``up`` is the world direction that should appear up in the image; with OpenCV axes the
    input camera's up is -y, hence the default.
    """
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    norm = np.linalg.norm(z)
    if norm == 0:
        raise ValueError("look_at: eye and target coincide")
    z = z / norm
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    world_from_cam = np.eye(4)
    world_from_cam[:3, :3] = np.stack([x, y, z], 1)
    world_from_cam[:3, 3] = eye
    return np.linalg.inv(world_from_cam)
