"""Converters between our trajectory file and other camera formats.

Imports keep the source's world frame (only the camera axes change), except ``official``, whose
frame is re-based so that frame 0 is the identity (see ``official.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..trajectory import CameraTrajectory, load_trajectory, save_trajectory
from .colmap import read_colmap, write_colmap
from .nerfstudio import read_nerfstudio, write_nerfstudio
from .official import read_official, write_official
from .re10k import read_re10k, write_re10k

FORMATS = ("worldstereo", "official", "nerfstudio", "colmap", "re10k")


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def read_trajectory(path: str | os.PathLike, fmt: str = "worldstereo", **options: Any) -> CameraTrajectory:
    """Read a trajectory in any supported format.

    Options: ``width``/``height`` (re10k, or an official file without them), ``fps``.
    """
    _check(fmt)
    width, height, fps = options.get("width"), options.get("height"), options.get("fps")
    if fmt == "worldstereo":
        return load_trajectory(path)
    if fmt == "official":
        return read_official(path, width=width, height=height, fps=fps or 16.0)
    if fmt == "nerfstudio":
        return read_nerfstudio(path, fps=fps or 16.0)
    if fmt == "colmap":
        return read_colmap(path, fps=fps or 16.0)
    return read_re10k(path, width=width, height=height, fps=fps)


def write_trajectory(traj: CameraTrajectory, path: str | os.PathLike, fmt: str = "worldstereo", **options: Any) -> Path:
    """Write a trajectory in any supported format. Options: ``depth`` (official: scene median depth)."""
    _check(fmt)
    if fmt == "worldstereo":
        return save_trajectory(traj, path)
    if fmt == "official":
        return write_official(traj, path, depth=options.get("depth") or 1.0)
    if fmt == "nerfstudio":
        return write_nerfstudio(traj, path)
    if fmt == "colmap":
        return write_colmap(traj, path)
    return write_re10k(traj, path)


__all__ = ["FORMATS", "read_trajectory", "write_trajectory", "read_official", "write_official", "read_nerfstudio",
           "write_nerfstudio", "read_colmap", "write_colmap", "read_re10k", "write_re10k"]
