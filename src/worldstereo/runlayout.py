"""The run directory (DESIGN §6): its file names and its typed record ``run.json``.

The one owner of both. Pipelines write a run through :class:`RunRecord` (via
``pipelines.rundir.RunDirectory``); every reader — resume, ``view``, ``reconstruct``, the benchmarks —
takes the file names from here and the record from :func:`read_record`, so renaming a file or adding a
record field is one change here plus ``run.schema.json``. The viewer alone reads the record leniently
(a run still going or crashed is when a user wants to look at it), but with these names.

Layout::

    run.json  .lock  input.png  cache.ply  viewer.html
    memory/bank.json  memory/*.png
    trajectories/<name>/{frames/*.png, video.mp4, render.mp4, mask.mp4, cameras.json,
                         references.json, depth.npz}
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import jsonschema

from . import jsonio
from .atomic import atomic_write_json

SCHEMA_VERSION = 1
RECORD = "run.json"
#: held (flock) by the process writing the run, so two processes never write one run folder
LOCK = ".lock"
INPUT_IMAGE = "input.png"
CACHE = "cache.ply"
VIDEO_CONTEXT_SUFFIX = ".cache.ply"
"""``GeneratedVideo.save("v.mp4")`` of a video that carries context its frames do not show (a panorama's
360° points) writes that Cache3D beside it as ``v.cache.ply``; ``reconstruct_scene(panoramic_input=True)``
reads it from there."""


def video_context_path(video: str | os.PathLike) -> Path:
    """Where the Cache3D context of a saved video lives: ``dir/name.mp4`` -> ``dir/name.cache.ply``."""
    p = Path(video)
    return p.with_name(p.stem + VIDEO_CONTEXT_SUFFIX)
MEMORY = "memory"
BANK = "bank.json"
VIEWER = "viewer.html"
TRAJECTORIES = "trajectories"
# inside trajectories/<name>/
FRAMES = "frames"
VIDEO = "video.mp4"
RENDER = "render.mp4"
MASK = "mask.mp4"
CAMERAS = "cameras.json"
REFERENCES = "references.json"
DEPTH = "depth.npz"


class RunError(ValueError):
    """The output directory cannot hold this run (not writable, another run, other inputs)."""


@dataclass(frozen=True)
class TrajectoryLayout:
    """The files of one trajectory folder."""

    root: Path

    frames = property(lambda self: self.root / FRAMES)
    video = property(lambda self: self.root / VIDEO)
    render = property(lambda self: self.root / RENDER)
    mask = property(lambda self: self.root / MASK)
    cameras = property(lambda self: self.root / CAMERAS)
    references = property(lambda self: self.root / REFERENCES)
    depth = property(lambda self: self.root / DEPTH)


@dataclass(frozen=True)
class RunLayout:
    """Where each file of a run lives. Paths only: no checks (``RunDirectory.path`` proves a path
    lies inside the run before anything writes to it)."""

    root: Path

    record = property(lambda self: self.root / RECORD)
    lock = property(lambda self: self.root / LOCK)
    input_image = property(lambda self: self.root / INPUT_IMAGE)
    cache = property(lambda self: self.root / CACHE)
    memory = property(lambda self: self.root / MEMORY)
    bank = property(lambda self: self.root / MEMORY / BANK)
    viewer = property(lambda self: self.root / VIEWER)
    trajectories = property(lambda self: self.root / TRAJECTORIES)

    def trajectory(self, name: str) -> TrajectoryLayout:
        return TrajectoryLayout(self.root / TRAJECTORIES / name)


# -- the record -------------------------------------------------------------------------------------

@dataclass
class TrajectoryRecord:
    """One trajectory's entry in ``run.json``."""

    status: str = "pending"  # pending | running | done
    started: Optional[float] = None  # time.time() when (re)started
    #: run-relative path -> SHA-256 of each file written; checked before a rerun trusts them
    files: dict[str, str] = field(default_factory=dict)
    seconds: Optional[float] = None
    #: what the run measured and reported (frames, index, warnings, psnr, metrics, hole_share…)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "TrajectoryRecord":
        d = dict(d)
        return cls(status=d.pop("status"), started=d.pop("started", None), files=dict(d.pop("files", {})),
                   seconds=d.pop("seconds", None), info=d)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"status": self.status}
        if self.started is not None:
            out["started"] = self.started
        if self.files:
            out["files"] = dict(self.files)
        out.update(self.info)
        if self.seconds is not None:
            out["seconds"] = self.seconds
        return out


_OPTIONAL = ("resumed", "input", "warnings", "plan_scale", "cache_steps", "plan", "outputs")


@dataclass
class RunRecord:
    """``run.json``: inputs (files with their SHA-256), settings, library versions and per trajectory
    a :class:`TrajectoryRecord`. JSON round trip through :meth:`from_dict` / :meth:`to_dict`;
    :meth:`from_dict` checks ``run.schema.json`` first."""

    created: str
    inputs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    trajectories: dict[str, TrajectoryRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    resumed: Optional[int] = None  # how many times --resume continued the run
    input: Optional[dict] = None  # how the input was prepared (crop, K source, sample…)
    warnings: list[str] = field(default_factory=list)
    plan_scale: Optional[dict[str, float]] = None  # presets brought nearer (1 = the paper's scale)
    cache_steps: Optional[list[dict]] = None  # the 3D cache after each trajectory
    plan: Optional[dict] = None  # --plan auto: the planner's settings and decisions
    outputs: dict[str, dict] = field(default_factory=dict)  # run-level files (cache, memory bank…)
    #: keys this version does not know (kept so that a rewrite loses nothing)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, inputs: dict[str, Any], settings: dict[str, Any], versions: dict[str, str]) -> "RunRecord":
        return cls(created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), inputs=inputs, settings=settings, versions=versions)

    @classmethod
    def from_dict(cls, data: Any, source: str = RECORD) -> "RunRecord":
        """The record in ``data`` if it has the shape of ``run.schema.json`` (and every recorded file lies
        inside the run), else :class:`RunError` naming ``source`` and the first bad field."""
        d = dict(validate_record(data, source))
        known = {"schema", "created", "inputs", "settings", "versions", "trajectories", "order", *_OPTIONAL}
        extra = {k: d.pop(k) for k in list(d) if k not in known}
        trajectories = {k: TrajectoryRecord.from_dict(v) for k, v in d.pop("trajectories").items()}
        optional = {k: d[k] for k in _OPTIONAL if k in d}
        return cls(created=d["created"], inputs=d["inputs"], settings=d["settings"], versions=d.get("versions", {}),
                   trajectories=trajectories, order=list(d["order"]), schema=d["schema"], extra=extra, **optional)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"schema": self.schema, "created": self.created, "inputs": self.inputs,
                               "settings": self.settings, "versions": self.versions,
                               "trajectories": {k: t.to_dict() for k, t in self.trajectories.items()},
                               "order": list(self.order)}
        for k in _OPTIONAL:
            v = getattr(self, k)
            if v is not None and (v or k not in ("warnings", "outputs")):  # those two exist once something is in them
                out[k] = v
        out.update(self.extra)
        return out

    def entry(self, name: str) -> TrajectoryRecord:
        """The entry of trajectory ``name``, added (pending, at the end of ``order``) when new."""
        if name not in self.trajectories:
            self.trajectories[name] = TrajectoryRecord()
        if name not in self.order:
            self.order.append(name)
        return self.trajectories[name]


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(resources.files("worldstereo").joinpath("run.schema.json").read_text(encoding="utf-8"))


def validate_record(record: Any, source: str) -> dict:
    """``record`` if it has the shape of ``run.schema.json`` (and every recorded file lies inside the
    run), else :class:`RunError` naming ``source`` and the first bad field."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(record))
    if error is not None:
        raise RunError(f"{source}: {jsonio.json_path(error.absolute_path)}: {error.message[:160]}; "
                       "this is not a run record this version can use, start a new run in another folder")
    for name, entry in record["trajectories"].items():
        for rel in entry.get("files", {}):
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise RunError(f"{source}: trajectories.{name}.files: {rel[:60]!r} is not a path inside the run; "
                               "start a new run in another folder")
    return record


def read_record(root: str | os.PathLike) -> RunRecord:
    """The validated ``run.json`` of the run in ``root``; :class:`RunError` (one line) when ``root``
    holds no run or a record of the wrong shape."""
    path = RunLayout(Path(root)).record
    if not Path(root).is_dir():
        raise RunError(f"{root}: not a folder; pass a worldstereo run directory (the -o folder of `worldstereo generate`)")
    if not path.is_file():
        raise RunError(f"{root}: not a worldstereo run (no {RECORD}); give the -o folder of `worldstereo generate`")
    try:
        data = jsonio.load(path, "run record")
    except jsonio.JSONInputError as exc:
        raise RunError(f"{exc}; start a new run in another folder") from None
    return RunRecord.from_dict(data, str(path))


def write_record(root: str | os.PathLike, record: RunRecord) -> None:
    """Write ``run.json`` atomically (a crash leaves the previous record, never half of one)."""
    atomic_write_json(RunLayout(Path(root)).record, record.to_dict())
