"""``CameraTrajectory`` and its file format (schema version 1, DESIGN §6)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from ..atomic import atomic_write_json
from .cameras import Cameras, CameraValidationError

SCHEMA_VERSION = 1


class TrajectoryFileError(ValueError):
    """A trajectory file is unreadable or invalid; the message names the file and JSON path."""


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
        if not self.fps > 0:
            raise ValueError(f"CameraTrajectory.fps: must be > 0, got {self.fps}")

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
        validator = jsonschema.Draft202012Validator(_schema())
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            raise TrajectoryFileError(f"{source}: {_json_path(error.absolute_path)}: {error.message}")
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
        return cls(cameras=cams, name=data["name"], kind=data["kind"], fps=float(data["fps"]))

    def with_cameras(self, cameras: Cameras, **changes) -> "CameraTrajectory":
        kw = {"name": self.name, "kind": self.kind, "fps": self.fps, "metadata": dict(self.metadata)}
        kw.update(changes)
        return CameraTrajectory(cameras=cameras, **kw)


@lru_cache(maxsize=1)
def _schema() -> dict:
    text = resources.files("worldstereo.camera").joinpath("trajectory.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def load_trajectory(path: str | os.PathLike) -> CameraTrajectory:
    """Read a schema-v1 trajectory file. Raises ``TrajectoryFileError`` naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrajectoryFileError(f"{path}: no such file; pass a trajectory .json (see `worldstereo trajectory make`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryFileError(f"{path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrajectoryFileError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return CameraTrajectory.from_dict(data, source=str(path))


def save_trajectory(traj: CameraTrajectory, path: str | os.PathLike) -> Path:
    """Write ``traj`` as schema-v1 JSON, atomically."""
    path = Path(path)
    atomic_write_json(path, traj.to_dict())
    return path
