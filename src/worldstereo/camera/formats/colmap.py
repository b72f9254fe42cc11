"""COLMAP text models: ``cameras.txt`` + ``images.txt`` in one folder.

COLMAP stores cam_from_world as a quaternion (qw, qx, qy, qz) and translation, with OpenCV axes
and pixel centres at +0.5, exactly our convention: nothing but the layout changes. Frames are
ordered by image name (video frames are named in order). Only undistorted models are accepted:
PINHOLE, SIMPLE_PINHOLE, or a distortion model whose distortion parameters are all zero.
The trajectory's name is the folder's name made safe (``_common.derived_name``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ...atomic import atomic_write_text
from ..cameras import MAX_SIDE
from ..trajectory import MAX_FRAMES, CameraTrajectory, TrajectoryFileError
from ._common import derived_name, read_lines, trajectory

# model -> (focal parameters, number of parameters); distortion follows cx, cy
_MODELS = {"SIMPLE_PINHOLE": (1, 3), "PINHOLE": (2, 4), "SIMPLE_RADIAL": (1, 4), "RADIAL": (1, 5),
           "OPENCV": (2, 8), "FULL_OPENCV": (2, 12)}


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise TrajectoryFileError(f"{path}: no such file; a COLMAP text model needs cameras.txt and images.txt")
    return read_lines(path, "COLMAP text")


def _read_cameras(path: Path) -> dict[int, tuple[np.ndarray, int, int]]:
    cams = {}
    for n, line in enumerate(_lines(path), 1):
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        where = f"{path}:{n}"
        try:
            cam_id, model, w, h = int(tok[0]), tok[1], int(tok[2]), int(tok[3])
            params = [float(x) for x in tok[4:]]
        except (ValueError, IndexError):
            raise TrajectoryFileError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...'") from None
        if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
            raise TrajectoryFileError(f"{where}: WIDTH and HEIGHT must be in [1, {MAX_SIDE}] pixels, got {w} x {h}")
        if not all(np.isfinite(params)):
            raise TrajectoryFileError(f"{where}: PARAMS must be finite numbers")
        if model not in _MODELS:
            raise TrajectoryFileError(f"{where}: camera model {model} is not supported; use one of {sorted(_MODELS)}")
        n_focal, n_params = _MODELS[model]
        if len(params) != n_params:
            raise TrajectoryFileError(f"{where}: {model} takes {n_params} parameters, got {len(params)}")
        if any(p != 0 for p in params[n_focal + 2:]):
            raise TrajectoryFileError(f"{where}: lens distortion is not supported; undistort the model (colmap image_undistorter)")
        fx = params[0]
        fy = params[1] if n_focal == 2 else fx
        cx, cy = params[n_focal], params[n_focal + 1]
        cams[cam_id] = (np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), w, h)
    return cams


def read_colmap(folder: str | os.PathLike, fps: float = 16.0) -> CameraTrajectory:
    folder = Path(folder)
    if not folder.is_dir():
        raise TrajectoryFileError(f"{folder}: not a folder; a COLMAP text model is a folder with cameras.txt and images.txt")
    cameras = _read_cameras(folder / "cameras.txt")
    path = folder / "images.txt"
    lines = _lines(path)
    records = []
    i = 0
    while i < len(lines):
        tok = lines[i].split()
        if not tok or tok[0].startswith("#"):
            i += 1
            continue
        where = f"{path}:{i + 1}"
        try:
            qw, qx, qy, qz, tx, ty, tz = (float(x) for x in tok[1:8])
            cam_id, name = int(tok[8]), " ".join(tok[9:])
        except (ValueError, IndexError):
            raise TrajectoryFileError(f"{where}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'") from None
        if not all(np.isfinite((tx, ty, tz))):
            raise TrajectoryFileError(f"{where}: TX TY TZ must be finite numbers")
        if cam_id not in cameras:
            raise TrajectoryFileError(f"{where}: CAMERA_ID {cam_id} is not in cameras.txt")
        q = np.array([qx, qy, qz, qw])
        with np.errstate(over="ignore", invalid="ignore"):  # |q| of 1e200 or inf is inf/NaN: not unit
            norm = float(np.linalg.norm(q))
        if not abs(norm - 1) <= 1e-3:
            raise TrajectoryFileError(f"{where}: quaternion is not unit length (|q| = {norm:.4g}); write QW QX QY QZ of a rotation")
        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat(q).as_matrix()
        T[:3, 3] = (tx, ty, tz)
        records.append((name, cameras[cam_id], T))
        if len(records) > MAX_FRAMES:
            raise TrajectoryFileError(f"{path}: more than {MAX_FRAMES} images; split the model")
        i += 2  # the next line holds the image's 2D points (possibly empty)
    if not records:
        raise TrajectoryFileError(f"{path}: no images")
    records.sort(key=lambda r: r[0])
    sizes = {(r[1][1], r[1][2]) for r in records}
    if len(sizes) != 1:
        raise TrajectoryFileError(f"{folder / 'cameras.txt'}: images use different sizes {sorted(sizes)}; one trajectory needs one size")
    (w, h), = sizes
    names = [r[0] for r in records]
    traj = trajectory(np.array([r[1][0] for r in records]), np.array([r[2] for r in records]), w, h, str(path),
                      name=derived_name(folder.name, "colmap"), kind="colmap", fps=fps,
                      fields={"K": "camera", "cam_from_world": "pose"}, at=lambda i, field: f"image {names[i][:40]!r}: {field}")
    traj.metadata["image_names"] = names
    return traj


def _f(x: float) -> str:
    return repr(float(x))


def write_colmap(traj: CameraTrajectory, folder: str | os.PathLike) -> Path:
    """Write ``cameras.txt`` (PINHOLE; one camera if all frames share K) and ``images.txt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cams = traj.cameras
    if np.any(cams.K[:, 0, 1] != 0):
        raise ValueError("COLMAP PINHOLE has no skew; these intrinsics have K[0, 1] != 0")
    shared = bool(np.all(cams.K == cams.K[0]))
    Ks = cams.K[:1] if shared else cams.K
    cam_lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    for c, k in enumerate(Ks, 1):
        cam_lines.append(" ".join([str(c), "PINHOLE", str(cams.width), str(cams.height), *map(_f, (k[0, 0], k[1, 1], k[0, 2], k[1, 2]))]))
    img_lines = ["# Image list with two lines of data per image:",
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "#   POINTS2D[] as (X, Y, POINT3D_ID)"]
    names = traj.metadata.get("image_names") or [f"frame_{i:05d}.png" for i in range(len(cams))]
    for i, T in enumerate(cams.cam_from_world):
        qx, qy, qz, qw = Rotation.from_matrix(T[:3, :3]).as_quat()
        img_lines.append(" ".join([str(i + 1), *map(_f, (qw, qx, qy, qz, *T[:3, 3])), str(1 if shared else i + 1), names[i]]))
        img_lines.append("")
    atomic_write_text(folder / "cameras.txt", "\n".join(cam_lines) + "\n")
    atomic_write_text(folder / "images.txt", "\n".join(img_lines) + "\n")
    return folder
