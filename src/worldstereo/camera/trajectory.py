"""``CameraTrajectory`` and its file format (schema version 1, DESIGN §6)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .. import jsonio
from ..atomic import atomic_write_json
from ..safepath import UnsafeNameError, check_name
from .cameras import Cameras, CameraValidationError

SCHEMA_VERSION = 1
# Bounds of what a trajectory file may hold (also in trajectory.schema.json, with cameras.MAX_SIDE);
# the pipeline applies its own, tighter limits to what a generator can take.
MAX_FPS = 240.0
MAX_FRAMES = 10_000


class TrajectoryFileError(ValueError):
    """A camera file (ours or a converter's input) is unreadable or invalid; the message names the
    file and the field. Every camera loader raises only this: the shared guards' errors
    (``jsonio.JSONInputError``, ``safepath.UnsafeNameError``, ``CameraValidationError``) are
    re-raised as it with the same located message."""


@dataclass(frozen=True)
class CameraTrajectory:
    """A camera path for one video: ``cameras`` (N frames) plus a name, a kind and a frame rate.

    ``kind`` says how it was made (a preset name such as ``"orbit"`` or ``"rotate_left"``,
    ``"spline"``, ``"custom"`` or the format it was imported from).
    """

    cameras: Cameras
    name: str = "trajectory"
    kind: str = "custom"
    fps: float = 16.0
    metadata: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.cameras, Cameras):
            raise TypeError(f"CameraTrajectory.cameras must be Cameras, got {type(self.cameras).__name__}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"CameraTrajectory.fps: must be finite and > 0, got {self.fps}")

    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def width(self) -> int:
        return self.cameras.width

    @property
    def height(self) -> int:
        return self.cameras.height

    def to_dict(self) -> dict:
        return {
            "version": SCHEMA_VERSION,
            "name": self.name,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frames": [
                {"K": k.tolist(), "cam_from_world": t.tolist()}
                for k, t in zip(self.cameras.K, self.cameras.cam_from_world)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> "CameraTrajectory":
        """Validate against the schema, then the camera rules; errors name ``source`` and the JSON path."""
        if isinstance(data, dict) and "name" in data:
            checked_name(data["name"], source)  # before the schema: its message says how to fix a name
        try:
            jsonio.check(data, _schema(), source, "see trajectory.schema.json or write one with `worldstereo trajectory make`")
        except jsonio.JSONInputError as exc:
            raise TrajectoryFileError(str(exc)) from None
        fps = checked_fps(data["fps"], source)
        try:
            cams = Cameras(
                K=[f["K"] for f in data["frames"]],
                cam_from_world=[f["cam_from_world"] for f in data["frames"]],
                width=data["width"],
                height=data["height"],
            )
        except CameraValidationError as exc:
            where = exc.field if exc.index is None else f"frames[{exc.index}].{exc.field}"
            raise TrajectoryFileError(f"{source}: {where}: {exc.reason}") from None
        return cls(cameras=cams, name=data["name"], kind=data["kind"], fps=fps)

    def with_cameras(self, cameras: Cameras, **changes) -> "CameraTrajectory":
        kw = {"name": self.name, "kind": self.kind, "fps": self.fps, "metadata": dict(self.metadata)}
        kw.update(changes)
        return CameraTrajectory(cameras=cameras, **kw)


@lru_cache(maxsize=1)
def _schema() -> dict:
    text = resources.files("worldstereo.camera").joinpath("trajectory.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def checked_name(name: object, source: str, what: str = "name") -> str:
    """``name`` if it is a safe folder name (``safepath.check_name``), else :class:`TrajectoryFileError`."""
    try:
        return check_name(name, what, source)
    except UnsafeNameError as exc:
        raise TrajectoryFileError(str(exc)) from None


def checked_fps(fps: object, source: str, what: str = "fps") -> float:
    """``fps`` as a float in (0, MAX_FPS], else :class:`TrajectoryFileError` naming ``source`` and ``what``."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise TrajectoryFileError(f"{source}: {what}: {str(fps)[:24]} is not a frame rate in (0, {MAX_FPS:g}]; "
                                  "write the video's frames per second (e.g. 16)")
    return float(fps)


def load_trajectory(path: str | os.PathLike) -> CameraTrajectory:
    """Read a schema-v1 trajectory file. Raises ``TrajectoryFileError`` naming the file and field."""
    path = Path(path)
    if not path.exists():
        raise TrajectoryFileError(f"{path}: no such file; pass a trajectory .json (see `worldstereo trajectory make`)")
    try:
        data = jsonio.load(path, "trajectory")
    except jsonio.JSONInputError as exc:
        raise TrajectoryFileError(str(exc)) from None
    return CameraTrajectory.from_dict(data, source=str(path))


def save_trajectory(traj: CameraTrajectory, path: str | os.PathLike) -> Path:
    """Write ``traj`` as schema-v1 JSON, atomically."""
    path = Path(path)
    atomic_write_json(path, traj.to_dict())
    return path
