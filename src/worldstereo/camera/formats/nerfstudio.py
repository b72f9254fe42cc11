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
from ..cameras import Cameras, CameraValidationError
from ..trajectory import CameraTrajectory, TrajectoryFileError
from ._common import read_json, require

# Right-multiplying a camera-to-world matrix by this flips the camera's y and z axes.
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
_DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


def read_nerfstudio(path: str | os.PathLike, fps: float = 16.0) -> CameraTrajectory:
    src = str(path)
    data = read_json(path, "transforms.json")
    frames = require(data, "frames", src)
    if not isinstance(frames, list) or not frames:
        raise TrajectoryFileError(f"{src}: frames: expected a non-empty list")
    Ks, cam_from_world, sizes = [], [], set()
    for i, f in enumerate(frames):
        where = f"frames[{i}]"
        vals = {}
        for k in _INTRINSIC_KEYS:
            v = f.get(k, data.get(k)) if isinstance(f, dict) else None
            if v is None and k == "fl_y":
                v = f.get("fl_x", data.get("fl_x"))
            if v is None:
                raise TrajectoryFileError(f"{src}: {where}.{k}: missing (neither in the frame nor at the top level)")
            vals[k] = float(v)
        for k in _DISTORTION_KEYS:
            if float(f.get(k, data.get(k, 0.0)) or 0.0) != 0.0:
                raise TrajectoryFileError(f"{src}: {where}.{k}: lens distortion is not supported; undistort the images first")
        sizes.add((int(vals["w"]), int(vals["h"])))
        Ks.append([[vals["fl_x"], 0.0, vals["cx"]], [0.0, vals["fl_y"], vals["cy"]], [0.0, 0.0, 1.0]])
        m = np.asarray(require(f, "transform_matrix", src, where), dtype=np.float64)
        if m.shape == (3, 4):
            m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
        if m.shape != (4, 4):
            raise TrajectoryFileError(f"{src}: {where}.transform_matrix: expected 4 x 4, got shape {m.shape}")
        try:
            cam_from_world.append(np.linalg.inv(m @ OPENGL_FROM_OPENCV))
        except np.linalg.LinAlgError:
            raise TrajectoryFileError(f"{src}: {where}.transform_matrix: singular matrix") from None
    if len(sizes) != 1:
        raise TrajectoryFileError(f"{src}: w/h: frames have different image sizes {sorted(sizes)}; split the file per size")
    (w, h), = sizes
    try:
        cams = Cameras(np.array(Ks), np.array(cam_from_world), w, h)
    except CameraValidationError as exc:
        field = {"K": "fl_x/fl_y/cx/cy", "cam_from_world": "transform_matrix"}.get(exc.field, exc.field)
        where = field if exc.index is None else f"frames[{exc.index}].{field}"
        raise TrajectoryFileError(f"{src}: {where}: {exc.reason}") from None
    return CameraTrajectory(cams, name=Path(path).parent.name or "nerfstudio", kind="nerfstudio", fps=fps)


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
