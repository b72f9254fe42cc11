"""Read what a run directory holds (DESIGN §6), tolerating partial runs.

The viewer and the report show whatever exists; every file that is absent or unreadable is listed
in :attr:`RunContents.missing` with a short reason instead of raising, because a run that is still
going (or crashed) is exactly when a user wants to look at it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..camera import Cameras, CameraTrajectory, load_trajectory

log = logging.getLogger(__name__)

VIDEO_KINDS = ("video", "render", "mask")


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
        p = self.root / "input.png"
        return p if p.is_file() else None


def _read_json(root: Path, rel: str, missing: list[str]) -> Optional[dict]:
    path = root / rel
    if not path.is_file():
        missing.append(f"{rel}: not written")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        missing.append(f"{rel}: unreadable ({exc})")
        return None


def _camera_from_json(cam: dict) -> Cameras:
    return Cameras(K=[cam["K"]], cam_from_world=[cam["cam_from_world"]], width=cam["width"], height=cam["height"])


def _trajectory_names(root: Path, record: dict) -> list[str]:
    names = list(record.get("order") or [])
    names += [n for n in record.get("trajectories", {}) if n not in names]
    tdir = root / "trajectories"
    if tdir.is_dir():
        names += sorted(p.name for p in tdir.iterdir() if p.is_dir() and p.name not in names)
    return names


def _load_trajectory(root: Path, name: str, entry: dict, missing: list[str]) -> TrajectoryContents:
    d = root / "trajectories" / name
    rel = f"trajectories/{name}"
    out = TrajectoryContents(name=name, status=entry.get("status", "unknown" if d.is_dir() else "pending"), entry=entry)
    if not d.is_dir():
        missing.append(f"{rel}/: not started ({out.status})")
        return out
    cams = d / "cameras.json"
    if cams.is_file():
        try:
            out.trajectory = load_trajectory(cams)
        except ValueError as exc:
            missing.append(f"{rel}/cameras.json: unreadable ({str(exc).splitlines()[0]})")
    else:
        missing.append(f"{rel}/cameras.json: not written")
    refs = _read_json(root, f"{rel}/references.json", [])
    if refs is not None and len(refs.get("targets", [])) == len(refs.get("references", [])):
        out.references = refs
    else:
        missing.append(f"{rel}/references.json: {'not written' if refs is None else 'targets and references differ in length'}")
    for kind in VIDEO_KINDS:
        if (d / f"{kind}.mp4").is_file():
            out.videos[kind] = f"{rel}/{kind}.mp4"
        else:
            missing.append(f"{rel}/{kind}.mp4: not written")
    out.frames = sorted((d / "frames").glob("frame_*.png")) if (d / "frames").is_dir() else []
    if not out.frames:
        missing.append(f"{rel}/frames/: no frames")
    return out


def _load_bank(root: Path, missing: list[str]) -> list[BankFrame]:
    bank = _read_json(root, "memory/bank.json", missing)
    if bank is None:
        return []
    frames, absent = [], 0
    for i, f in enumerate(bank.get("frames", [])):
        try:
            cam = _camera_from_json(f["camera"])
        except (KeyError, ValueError, TypeError) as exc:
            missing.append(f"memory/bank.json: frame {i} has no valid camera ({exc})")
            continue
        image = f"memory/{f['image']}" if f.get("image") and (root / "memory" / f["image"]).is_file() else None
        absent += bool(f.get("image")) and image is None
        frames.append(BankFrame(index=i, image=image, source=str(f.get("source", "?")), camera=cam))
    if absent:
        missing.append(f"memory/: {absent} of {len(frames)} bank images not written")
    return frames


def load_run(run_dir: str | os.PathLike) -> RunContents:
    """Everything readable in ``run_dir``; raises ValueError only when it is not a folder."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder; pass a worldstereo run directory (it holds run.json)")
    missing: list[str] = []
    record = _read_json(root, "run.json", missing) or {}
    entries = record.get("trajectories", {})
    trajs = [_load_trajectory(root, n, entries.get(n, {}), missing) for n in _trajectory_names(root, record)]
    bank = _load_bank(root, missing)
    cache = root / "cache.ply"
    if not cache.is_file():
        missing.append("cache.ply: not written")
    if not (root / "input.png").is_file():
        missing.append("input.png: not written")
    recon, recon_files = None, {}
    if (root / "reconstruction").is_dir():
        recon = _read_json(root, "reconstruction/metadata.json", missing)
        for name in ("points", "mesh"):
            p = root / "reconstruction" / f"{name}.ply"
            if p.is_file():
                recon_files[name] = p
            else:
                missing.append(f"reconstruction/{name}.ply: not written")
    else:
        missing.append("reconstruction/: not run (optional)")
    log.debug("run %s: %d trajectories, %d bank frames, %d missing", root, len(trajs), len(bank), len(missing))
    return RunContents(root=root, record=record, trajectories=trajs, bank=bank,
                       cache_ply=cache if cache.is_file() else None, reconstruction=recon, missing=missing,
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
