"""The official WorldStereo ``camera.json``: ``{"extrinsic": N x 4 x 4 w2c, "intrinsic": N x 3 x 3, "width", "height"}``.

Axes are OpenCV like ours and K is in pixels; only the world frame differs: the official frame 0
is ``[I | (0, 0, d)]`` (world origin at the median depth d in front of the first camera). On
import the frame is re-based so that our frame 0 is the identity; on export it is re-based back
with the ``depth`` given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_json
from ..trajectory import CameraTrajectory, TrajectoryFileError
from ._common import array, derived_name, nesting, read_json, require, size, trajectory


def read_official(path: str | os.PathLike, width: int | None = None, height: int | None = None,
                  fps: float = 16.0) -> CameraTrajectory:
    """Read ``camera.json``; ``width``/``height`` are needed only when the file lacks them.

    The name is the file's stem made safe (``derived_name``); ``camera`` for ``camera.json``.
    """
    src = str(path)
    data = read_json(path, "camera.json")
    extrinsic = array(require(data, "extrinsic", src), (-1, 4, 4), src, "extrinsic")
    intrinsic = require(data, "intrinsic", src)
    intrinsic = array(intrinsic, (3, 3) if nesting(intrinsic) == 2 else (len(extrinsic), 3, 3), src, "intrinsic")
    w, h = data.get("width", width), data.get("height", height)
    if w is None or h is None:
        raise TrajectoryFileError(f"{src}: width/height: missing; pass them (--width/--height) for this file")
    w, h = size(w, src, "width"), size(h, src, "height")
    try:
        # ours_from_world_i = official_i @ inv(official_0): frame 0 becomes the identity.
        with np.errstate(all="ignore"):  # overflow shows up as a non-finite camera below
            cam_from_world = extrinsic @ np.linalg.inv(extrinsic[0])
    except np.linalg.LinAlgError:
        raise TrajectoryFileError(f"{src}: extrinsic[0]: singular matrix; frame 0 must be a camera pose") from None
    return trajectory(intrinsic, cam_from_world, w, h, src, name=derived_name(Path(path).stem, "official"),
                      kind="official", fps=fps, fields={"K": "intrinsic", "cam_from_world": "extrinsic"},
                      at=lambda i, field: f"{field}[{i}]")


def write_official(traj: CameraTrajectory, path: str | os.PathLike, depth: float = 1.0) -> Path:
    """Write ``camera.json`` with frame 0 at ``[I | (0, 0, depth)]`` (depth = the scene's median depth)."""
    if not depth > 0:
        raise ValueError(f"depth: must be > 0 (the scene's median depth), got {depth}")
    cams = traj.cameras
    base = np.eye(4)
    base[2, 3] = depth
    extrinsic = cams.cam_from_world @ np.linalg.inv(cams.cam_from_world[0]) @ base
    atomic_write_json(path, {
        "extrinsic": extrinsic.tolist(),
        "intrinsic": cams.K.tolist(),
        "width": cams.width,
        "height": cams.height,
    })
    return Path(path)
