"""nerfstudio ``transforms.json``: OpenGL camera axes (x right, y up, z back), camera-to-world matrices.

Intrinsics come from top-level ``fl_x, fl_y, cx, cy, w, h`` or per frame (a frame's value wins).
nerfstudio puts pixel centres at +0.5 like we do, so cx/cy carry over unchanged. The world frame
is kept; only the camera axes are flipped (OpenGL = OpenCV with y and z negated).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_json
from ..trajectory import MAX_FRAMES, CameraTrajectory, TrajectoryFileError
from ._common import array, derived_name, number, read_json, require, size, trajectory

# Right-multiplying a camera-to-world matrix by this flips the camera's y and z axes.
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
_DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


def read_nerfstudio(path: str | os.PathLike, fps: float = 16.0) -> CameraTrajectory:
    """Read ``transforms.json``; the name is its folder's name made safe (``derived_name``)."""
    src = str(path)
    data = read_json(path, "transforms.json")
    frames = require(data, "frames", src)
    if not isinstance(frames, list) or not 1 <= len(frames) <= MAX_FRAMES:
        raise TrajectoryFileError(f"{src}: frames: expected a list of 1 to {MAX_FRAMES} frames; write one object per image")
    Ks, cam_from_world, sizes = [], [], set()
    for i, f in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(f, dict):
            raise TrajectoryFileError(f"{src}: {where}: expected a JSON object, got {type(f).__name__}; write one object per image")
        vals = {}
        for k in _INTRINSIC_KEYS:
            v = f.get(k, data.get(k))
            if v is None and k == "fl_y":
                v = f.get("fl_x", data.get("fl_x"))
            if v is None:
                raise TrajectoryFileError(f"{src}: {where}.{k}: missing (neither in the frame nor at the top level); add it")
            vals[k] = size(v, src, f"{where}.{k}") if k in ("w", "h") else number(v, src, f"{where}.{k}")
        for k in _DISTORTION_KEYS:
            v = f.get(k, data.get(k))
            if v is not None and number(v, src, f"{where}.{k}") != 0.0:
                raise TrajectoryFileError(f"{src}: {where}.{k}: lens distortion is not supported; undistort the images first")
        sizes.add((vals["w"], vals["h"]))
        Ks.append([[vals["fl_x"], 0.0, vals["cx"]], [0.0, vals["fl_y"], vals["cy"]], [0.0, 0.0, 1.0]])
        m = require(f, "transform_matrix", src, where)
        m = array(m, (3 if isinstance(m, list) and len(m) == 3 else 4, 4), src, f"{where}.transform_matrix")
        if m.shape == (3, 4):
            m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
        try:
            with np.errstate(all="ignore"):  # overflow shows up as a non-finite camera below
                cam_from_world.append(np.linalg.inv(m @ OPENGL_FROM_OPENCV))
        except np.linalg.LinAlgError:
            raise TrajectoryFileError(f"{src}: {where}.transform_matrix: singular matrix; write a camera-to-world pose") from None
    if len(sizes) != 1:
        raise TrajectoryFileError(f"{src}: w/h: frames have different image sizes {sorted(sizes)[:4]}; split the file per size")
    (w, h), = sizes
    return trajectory(np.array(Ks), np.array(cam_from_world), w, h, src,
                      name=derived_name(Path(path).parent.name, "nerfstudio"), kind="nerfstudio", fps=fps,
                      fields={"K": "fl_x/fl_y/cx/cy", "cam_from_world": "transform_matrix"})


def write_nerfstudio(traj: CameraTrajectory, path: str | os.PathLike) -> Path:
    """Write ``transforms.json`` (shared intrinsics at the top level when all frames agree)."""
    cams = traj.cameras
    world_from_cam_gl = cams.world_from_cam @ OPENGL_FROM_OPENCV
    shared = bool(np.all(cams.K == cams.K[0]))
    if np.any(cams.K[:, 0, 1] != 0):
        raise ValueError("nerfstudio format has no skew; these intrinsics have K[0, 1] != 0")

    def intr(k: np.ndarray) -> dict:
        return {"fl_x": k[0, 0], "fl_y": k[1, 1], "cx": k[0, 2], "cy": k[1, 2]}

    data: dict = {"camera_model": "OPENCV", "w": cams.width, "h": cams.height}
    if shared:
        data.update(intr(cams.K[0]))
    frames = []
    for i, m in enumerate(world_from_cam_gl):
        frame = {"file_path": f"images/frame_{i:05d}.png", "transform_matrix": m.tolist()}
        if not shared:
            frame.update(intr(cams.K[i]))
        frames.append(frame)
    data["frames"] = frames
    atomic_write_json(path, data)
    return Path(path)
