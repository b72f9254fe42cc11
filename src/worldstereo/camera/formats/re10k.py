"""RealEstate10K camera lines.

A file holds the video's URL on its first line, then one line per frame::

    timestamp_us fx fy cx cy k1 k2 r00 r01 r02 t0 r10 r11 r12 t1 r20 r21 r22 t2

with intrinsics normalised by the image width/height (so cx = 0.5 is the centre, matching our
pixel-centre convention after scaling) and a 3x4 cam_from_world with OpenCV axes. The image size
is not in the file: it must be given on import.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_text
from ..trajectory import MAX_FPS, MAX_FRAMES, CameraTrajectory, TrajectoryFileError
from ._common import derived_name, read_lines, size, trajectory


def read_re10k(path: str | os.PathLike, width: int | None = None, height: int | None = None,
               fps: float | None = None) -> CameraTrajectory:
    """Read a RealEstate10K camera file for images of ``width`` x ``height``.

    ``fps`` defaults to the rate of the timestamps; the name is the file's stem made safe (``derived_name``).
    """
    path = Path(path)
    if width is None or height is None:
        raise TrajectoryFileError(f"{path}: RealEstate10K files carry no image size; pass width and height (--width/--height)")
    width, height = size(width, str(path), "width (--width)"), size(height, str(path), "height (--height)")
    lines = read_lines(path, "RealEstate10K camera")
    stamps, Ks, Ts = [], [], []
    for n, line in enumerate(lines, 1):
        tok = line.split()
        if not tok or (n == 1 and len(tok) == 1):
            continue  # the URL line
        if len(tok) != 19:
            raise TrajectoryFileError(f"{path}:{n}: expected 19 numbers (timestamp, fx fy cx cy, k1 k2, 3x4 matrix), got {len(tok)}")
        try:
            v = [float(x) for x in tok]
        except ValueError:
            raise TrajectoryFileError(f"{path}:{n}: not a number in {line.strip()[:60]!r}") from None
        if not np.isfinite(v).all():
            raise TrajectoryFileError(f"{path}:{n}: holds a non-finite number; write finite numbers")
        if len(Ts) == MAX_FRAMES:
            raise TrajectoryFileError(f"{path}:{n}: more than {MAX_FRAMES} camera lines; split the file")
        stamps.append(v[0])
        fx, fy, cx, cy = v[1] * width, v[2] * height, v[3] * width, v[4] * height
        Ks.append([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
        Ts.append(np.vstack([np.array(v[7:19]).reshape(3, 4), [0, 0, 0, 1]]))
    if not Ts:
        raise TrajectoryFileError(f"{path}: no camera lines")
    if fps is None:
        steps = np.diff(stamps)
        fps = float(1e6 / np.median(steps)) if len(steps) and np.median(steps) > 0 else 16.0
        if not 0 < fps <= MAX_FPS:
            raise TrajectoryFileError(f"{path}: timestamps: frames {np.median(steps):.4g} us apart mean {fps:.4g} fps, "
                                      f"outside (0, {MAX_FPS:g}]; pass the frame rate (--fps)")
    return trajectory(np.array(Ks, dtype=np.float64), np.array(Ts), width, height, str(path),
                      name=derived_name(path.stem, "re10k"), kind="re10k", fps=fps,
                      at=lambda i, field: f"frame {i}: {field}")


def write_re10k(traj: CameraTrajectory, path: str | os.PathLike, url: str | None = None) -> Path:
    cams = traj.cameras
    if np.any(cams.K[:, 0, 1] != 0):
        raise ValueError("RealEstate10K lines have no skew; these intrinsics have K[0, 1] != 0")
    out = [url or f"worldstereo://{traj.name}"]
    for i, (k, T) in enumerate(zip(cams.K, cams.cam_from_world)):
        stamp = int(round(i * 1e6 / traj.fps))
        intr = (k[0, 0] / cams.width, k[1, 1] / cams.height, k[0, 2] / cams.width, k[1, 2] / cams.height, 0.0, 0.0)
        out.append(" ".join([str(stamp), *(repr(float(x)) for x in (*intr, *T[:3].reshape(-1)))]))
    atomic_write_text(path, "\n".join(out) + "\n")
    return Path(path)
