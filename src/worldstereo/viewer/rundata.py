"""Read what a run directory holds (DESIGN §6), tolerating partial runs.

The viewer and the report show whatever exists; every file that is absent or unreadable is listed
in :attr:`RunContents.missing` with a short reason instead of raising, because a run that is still
going (or crashed) is exactly when a user wants to look at it. Only a folder without a ``run.json``
of the right shape is refused (:func:`read_run_record`), before anything is written into it.

A run folder may come from someone else, so its contents are untrusted: JSON goes through
:mod:`worldstereo.jsonio`, and a name taken from a file (a trajectory, a bank image) is used as a
path only when it is one plain component whose target stays inside the run folder.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .. import jsonio
from ..camera import Cameras, CameraTrajectory, load_trajectory
from ..runlayout import CACHE, CAMERAS, FRAMES, INPUT_IMAGE, RECORD, REFERENCES, TRAJECTORIES
from ..safepath import UnsafeNameError, UnsafePathError, check_name, inside

log = logging.getLogger(__name__)

VIDEO_KINDS = ("video", "render", "mask")
_FIX = "pass the -o folder of `worldstereo generate`"


class NotARunError(ValueError):
    """A folder holds no readable ``run.json`` of the right shape; the message says where and what to pass."""


def read_run_record(run_dir: str | os.PathLike) -> dict:
    """The ``run.json`` of ``run_dir`` if it is a run record (an object with an integer ``schema`` and a
    ``trajectories`` object); :class:`NotARunError` (one line) otherwise. Nothing is written."""
    root = Path(run_dir)
    if not root.is_dir():
        raise NotARunError(f"{root}: not a folder; {_FIX}")
    path = root / RECORD
    if not path.is_file():
        raise NotARunError(f"{root}: not a worldstereo run (no {RECORD}); {_FIX}")
    try:
        record = jsonio.load(path, "run record")
    except jsonio.JSONInputError as exc:
        raise NotARunError(f"{str(exc).splitlines()[0]}; {_FIX}") from None
    schema = record.get("schema") if isinstance(record, dict) else None
    if not (isinstance(schema, int) and not isinstance(schema, bool) and isinstance(record.get("trajectories"), dict)):
        raise NotARunError(f"{path}: not a worldstereo run record (needs an integer 'schema' and a 'trajectories' "
                           f"object); {_FIX}")
    return record


@dataclass
class TrajectoryContents:
    """One trajectory folder: its record entry and whichever files exist."""

    name: str
    status: str
    entry: dict
    trajectory: Optional[CameraTrajectory] = None
    references: Optional[dict] = None
    videos: dict[str, str] = field(default_factory=dict)  # kind -> path relative to the run dir
    frames: list[Path] = field(default_factory=list)


@dataclass
class BankFrame:
    index: int
    image: Optional[str]  # relative to the run dir
    source: str
    camera: Cameras  # one camera


@dataclass
class RunContents:
    root: Path
    record: dict
    trajectories: list[TrajectoryContents]
    bank: list[BankFrame]
    cache_ply: Optional[Path]
    reconstruction: Optional[dict]
    missing: list[str]
    reconstruction_points: Optional[Path] = None
    reconstruction_mesh: Optional[Path] = None

    @property
    def input_image(self) -> Optional[Path]:
        p = self.root / INPUT_IMAGE
        return p if p.is_file() else None


def _component(name: object) -> bool:
    """Whether ``name`` is one plain path component (so joining it never leaves its folder)."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and not any(c in name for c in "/\\\0") and len(name) <= 255)


def _within(root: Path, rel: str) -> Optional[Path]:
    """``root/rel`` when it exists and, with symlinks resolved, lies inside ``root``; else None."""
    path = root / rel
    if not path.exists():
        return None
    try:
        return inside(path, root)
    except UnsafePathError:
        return None


def _read_json(root: Path, rel: str, missing: list[str]) -> Optional[dict]:
    path = _within(root, rel)
    if path is None or not path.is_file():
        missing.append(f"{rel}: not written" if not (root / rel).exists() else f"{rel}: not a file inside the run")
        return None
    try:
        data = jsonio.load(path, rel)
    except jsonio.JSONInputError as exc:
        missing.append(f"{rel}: unreadable ({str(exc).removeprefix(str(path) + ': ').splitlines()[0]})")
        return None
    if not isinstance(data, dict):
        missing.append(f"{rel}: unreadable (expected a JSON object, got {type(data).__name__})")
        return None
    return data


def _camera_from_json(cam: object) -> Cameras:
    """The one camera of a bank entry, as ``MemoryBank.save`` writes it (``Cameras.to_dict`` of one camera:
    K (1, 3, 3), cam_from_world (1, 4, 4))."""
    if not isinstance(cam, dict):
        raise ValueError(f"expected an object, got {type(cam).__name__}")
    cams = Cameras.from_dict(cam)
    if len(cams) != 1:
        raise ValueError(f"holds {len(cams)} cameras, a bank frame has one")
    return cams


def _trajectory_names(root: Path, record: dict) -> list[str]:
    order = record.get("order")
    names = [n for n in order if isinstance(n, str)] if isinstance(order, list) else []
    names += [n for n in record.get("trajectories", {}) if n not in names]
    tdir = _within(root, TRAJECTORIES)
    if tdir is not None and tdir.is_dir():
        names += sorted(p.name for p in tdir.iterdir() if p.is_dir() and p.name not in names)
    return names


def _load_trajectory(root: Path, name: str, entry: object, missing: list[str]) -> TrajectoryContents:
    entry = entry if isinstance(entry, dict) else {}
    rel = f"{TRAJECTORIES}/{name}"
    d = _within(root, rel) if _component(name) else None
    status = entry.get("status")
    status = status if isinstance(status, str) else ("unknown" if d is not None else "pending")
    out = TrajectoryContents(name=name, status=status, entry=entry)
    if not _component(name):
        missing.append(f"{rel}/: not a folder name, so nothing of it is read")
        return out
    if d is None or not d.is_dir():
        missing.append(f"{rel}/: not started ({out.status})")
        return out
    cams = d / CAMERAS
    if cams.is_file():
        try:
            out.trajectory = load_trajectory(cams)
        except ValueError as exc:
            missing.append(f"{rel}/{CAMERAS}: unreadable ({str(exc).splitlines()[0]})")
    else:
        missing.append(f"{rel}/{CAMERAS}: not written")
    refs_missing: list[str] = []
    refs = _read_json(root, f"{rel}/{REFERENCES}", refs_missing)
    problem = _references_problem(refs) if refs is not None else refs_missing[0].split(": ", 1)[1]
    if problem is None:
        out.references = refs
    else:
        missing.append(f"{rel}/{REFERENCES}: {problem}")
    for kind in VIDEO_KINDS:
        video = _within(root, f"{rel}/{kind}.mp4")
        if video is not None and video.is_file():
            out.videos[kind] = f"{rel}/{kind}.mp4"
        else:
            missing.append(f"{rel}/{kind}.mp4: not written")
    frames = _within(root, f"{rel}/{FRAMES}")
    out.frames = sorted(frames.glob("frame_*.png")) if frames is not None and frames.is_dir() else []
    if not out.frames:
        missing.append(f"{rel}/frames/: no frames")
    return out


def _references_problem(refs: dict) -> Optional[str]:
    """Why a references.json cannot be shown (None when it can): the page indexes these lists."""
    lists = {k: refs.get(k, []) for k in ("targets", "references", "scores", "angles")}
    if not all(isinstance(v, list) for v in lists.values()):
        return "targets, references, scores and angles must be lists"
    if len(lists["targets"]) != len(lists["references"]):
        return "targets and references differ in length"
    numbers = [v for k in ("targets", "references") for v in lists[k]]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
        return "targets and references must be frame numbers"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for k in ("scores", "angles") for v in lists[k]):
        return "scores and angles must be numbers"
    return None


def _bank_image(root: Path, name: object) -> Optional[str]:
    """``memory/<name>`` when it names a plain file of the bank folder (never a path out of it)."""
    try:
        check_name(name)
    except UnsafeNameError:
        return None
    path = _within(root, f"memory/{name}")
    return f"memory/{name}" if path is not None and path.is_file() else None


def _load_bank(root: Path, missing: list[str]) -> list[BankFrame]:
    bank = _read_json(root, "memory/bank.json", missing)
    if bank is None:
        return []
    entries = bank.get("frames", [])
    if not isinstance(entries, list):
        missing.append("memory/bank.json: 'frames' is not a list")
        return []
    frames, absent = [], 0
    for i, f in enumerate(entries):
        try:
            cam = _camera_from_json(f.get("camera") if isinstance(f, dict) else None)
        except (KeyError, ValueError, TypeError) as exc:
            missing.append(f"memory/bank.json: frame {i} has no valid camera ({str(exc).splitlines()[0]})")
            continue
        image = _bank_image(root, f.get("image"))
        absent += bool(f.get("image")) and image is None
        frames.append(BankFrame(index=i, image=image, source=str(f.get("source", "?")), camera=cam))
    if absent:
        missing.append(f"memory/: {absent} of {len(frames)} bank images not written")
    return frames


MAX_PLAN_PATHS = 5000  # candidate paths drawn at most (a planner records under a hundred per step)


def plan_paths(record: dict, missing: list[str]) -> list[dict]:
    """The ``--plan auto`` decisions of a run record as paths to draw: every candidate of every step
    with ``kind`` "chosen", "admitted" (kept but outscored) or "refused" (and why). A malformed
    entry is skipped and listed in ``missing``: the record may come from someone else."""
    plan = record.get("plan")
    steps = plan.get("steps") if isinstance(plan, dict) else None
    if not isinstance(steps, list):
        return []
    out: list[dict] = []
    for k, step in enumerate(steps):
        cands = step.get("candidates") if isinstance(step, dict) else None
        if not isinstance(cands, list):
            missing.append(f"run.json: plan step {k} has no candidate list")
            continue
        chosen = step.get("chosen")
        for c in cands:
            path = np.asarray(c.get("path", []) if isinstance(c, dict) else [], dtype=object)
            try:
                xyz = np.asarray(path.tolist(), dtype=np.float64)
            except (TypeError, ValueError):
                xyz = np.zeros((0, 0))
            if xyz.ndim != 2 or xyz.shape[1:] != (3,) or len(xyz) < 2 or not np.isfinite(xyz).all():
                missing.append(f"run.json: plan step {k}: a candidate path is not a list of finite 3D points")
                continue
            name = str(c.get("name", ""))[:64]
            kind = ("chosen" if isinstance(chosen, str) and chosen.split("-", 1)[-1] == name
                    else "admitted" if c.get("accepted") is True else "refused")
            out.append({"step": k, "name": name, "kind": kind, "reason": str(c.get("reason", ""))[:200],
                        "path": np.round(xyz, 5).ravel().tolist()})
            if len(out) >= MAX_PLAN_PATHS:
                missing.append(f"run.json: plan paths beyond the first {MAX_PLAN_PATHS} are not drawn")
                return out
    return out


def load_run(run_dir: str | os.PathLike) -> RunContents:
    """Everything readable in ``run_dir``; raises :class:`NotARunError` only when it is not a run
    (see :func:`read_run_record`)."""
    root = Path(run_dir)
    record = read_run_record(root)
    missing: list[str] = []
    entries = record["trajectories"]
    trajs = [_load_trajectory(root, n, entries.get(n, {}), missing) for n in _trajectory_names(root, record)]
    bank = _load_bank(root, missing)
    def file(rel: str) -> Optional[Path]:
        path = _within(root, rel)
        return path if path is not None and path.is_file() else None

    cache = file(CACHE)
    if cache is None:
        missing.append(f"{CACHE}: not written")
    if file(INPUT_IMAGE) is None:
        missing.append(f"{INPUT_IMAGE}: not written")
    recon, recon_files = None, {}
    recon_dir = _within(root, "reconstruction")
    if recon_dir is not None and recon_dir.is_dir():
        recon = _read_json(root, "reconstruction/metadata.json", missing)
        for name in ("points", "mesh"):
            recon_files[name] = file(f"reconstruction/{name}.ply")
            if recon_files[name] is None:
                missing.append(f"reconstruction/{name}.ply: not written")
    else:
        missing.append("reconstruction/: not run (optional)")
    log.debug("run %s: %d trajectories, %d bank frames, %d missing", root, len(trajs), len(bank), len(missing))
    return RunContents(root=root, record=record, trajectories=trajs, bank=bank,
                       cache_ply=cache, reconstruction=recon, missing=missing,
                       reconstruction_points=recon_files.get("points"), reconstruction_mesh=recon_files.get("mesh"))


def _read_ply(path: str | os.PathLike):
    from plyfile import PlyData

    try:
        return PlyData.read(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable PLY file ({exc})") from None


def _vertices(ply, path) -> tuple[np.ndarray, np.ndarray]:
    try:
        vertex = ply["vertex"].data
    except KeyError:
        raise ValueError(f"{path}: PLY file without a vertex element") from None
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], 1).astype(np.float32)
    if all(c in vertex.dtype.names for c in ("red", "green", "blue")):
        rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1).astype(np.uint8)
    else:
        rgb = np.full_like(xyz, 160, dtype=np.uint8)
    return xyz, rgb


def read_ply_points(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(P, 3) float32 xyz and (P, 3) uint8 rgb of a PLY point cloud's finite vertices (rgb grey if absent)."""
    xyz, rgb = _vertices(_read_ply(path), path)
    keep = np.isfinite(xyz).all(1)
    return xyz[keep], rgb[keep]


def read_ply_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V, 3) float32 vertices, (V, 3) uint8 colours and (T, 3) uint32 triangles of a PLY mesh."""
    ply = _read_ply(path)
    xyz, rgb = _vertices(ply, path)
    try:
        faces = ply["face"].data
    except KeyError:
        raise ValueError(f"{path}: PLY file without faces; write the mesh with its triangles") from None
    name = "vertex_indices" if "vertex_indices" in faces.dtype.names else "vertex_index"
    try:
        tris = np.stack(list(faces[name])).astype(np.int64) if len(faces) else np.zeros((0, 3), np.int64)
    except ValueError:
        raise ValueError(f"{path}: faces of mixed sizes; the viewer shows triangle meshes") from None
    if tris.ndim != 2 or tris.shape[1] != 3:
        raise ValueError(f"{path}: faces must be triangles, got {tris.shape[-1]}-gons")
    if len(tris) and (tris.min() < 0 or tris.max() >= len(xyz)):
        raise ValueError(f"{path}: a face refers to a vertex outside 0..{len(xyz) - 1}")
    if not np.isfinite(xyz).all():
        raise ValueError(f"{path}: non-finite vertex coordinates")
    return xyz, rgb, tris.astype(np.uint32)
