"""Containers of a reconstruction (Mesh, ReconstructedScene; points are ``geometry.PointCloud``) and the
scene directory.

Scene directory layout (what ``reconstruct_scene`` writes and ``worldstereo export`` reads):
``scene.npz`` (mesh and point-cloud arrays, frames), ``cameras.json`` (``Cameras.to_dict``),
``metadata.json`` (quality metrics, parameters, timings), 8-bit previews
``textures/{albedo,normal,roughness}.png`` (the float maps live in ``scene.npz``)
and ``mesh.ply`` / ``points.ply`` previews.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from .. import jsonio
from ..atomic import atomic_path, atomic_write_json
from ..camera import Cameras, CameraValidationError
from ..camera.cameras import CAMERAS_SCHEMA
from ..geometry import PointCloud

TEXTURE_NAMES = ("albedo", "normal", "roughness")


def _opt(a: Optional[np.ndarray], dtype, shape_tail: tuple, name: str, n: int) -> Optional[np.ndarray]:
    if a is None:
        return None
    a = np.asarray(a, dtype=dtype)
    if a.shape != (n, *shape_tail):
        raise ValueError(f"{name}: expected shape {(n, *shape_tail)}, got {a.shape}")
    return a


@dataclass
class Mesh:
    """Triangle mesh: vertices (V, 3) float64, faces (F, 3) int64, optional per-vertex normals (V, 3),
    colours (V, 3) float32 in [0, 1] and UVs (V, 2) float32 (origin bottom-left, OpenGL/glTF-style v up)."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: Optional[np.ndarray] = None
    colors: Optional[np.ndarray] = None
    uvs: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.vertices = np.asarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.asarray(self.faces, dtype=np.int64).reshape(-1, 3)
        n = len(self.vertices)
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= n):
            raise ValueError(f"Mesh.faces: indices must be in [0, {n}), got [{self.faces.min()}, {self.faces.max()}]")
        self.normals = _opt(self.normals, np.float32, (3,), "Mesh.normals", n)
        self.colors = _opt(self.colors, np.float32, (3,), "Mesh.colors", n)
        self.uvs = _opt(self.uvs, np.float32, (2,), "Mesh.uvs", n)

    def __len__(self) -> int:
        return len(self.vertices)

    def to_open3d(self):
        import open3d as o3d

        m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(self.vertices), o3d.utility.Vector3iVector(self.faces.astype(np.int32)))
        if self.colors is not None:
            m.vertex_colors = o3d.utility.Vector3dVector(self.colors.astype(np.float64))
        if self.normals is not None:
            m.vertex_normals = o3d.utility.Vector3dVector(self.normals.astype(np.float64))
        return m

    @classmethod
    def from_open3d(cls, m) -> "Mesh":
        if not m.has_vertex_normals():
            m.compute_vertex_normals()
        colors = np.asarray(m.vertex_colors) if m.has_vertex_colors() else None
        return cls(np.asarray(m.vertices), np.asarray(m.triangles), np.asarray(m.vertex_normals), colors)

    def compute_normals(self) -> "Mesh":
        """A copy with area-weighted vertex normals."""
        m = self.to_open3d()
        m.compute_vertex_normals()
        return replace(self, normals=np.asarray(m.vertex_normals))


def cloud_to_open3d(pc: PointCloud):
    """``o3d.geometry.PointCloud`` of a (numpy) point cloud: points, and colours and normals when present."""
    import open3d as o3d

    p = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(pc.xyz, np.float64)))
    if pc.rgb is not None:
        p.colors = o3d.utility.Vector3dVector(np.asarray(pc.rgb, np.float64))
    if pc.normals is not None:
        p.normals = o3d.utility.Vector3dVector(np.asarray(pc.normals, np.float64))
    return p


def cloud_from_open3d(p) -> PointCloud:
    """The reconstruction's point cloud (points float64, colours and normals float32) of an Open3D one."""
    return PointCloud(np.asarray(p.points, np.float64),
                      np.asarray(p.colors, np.float32) if p.has_colors() else None,
                      np.asarray(p.normals, np.float32) if p.has_normals() else None)


@dataclass
class ReconstructedScene:
    """A reconstructed scene.

    ``mesh`` and ``point_cloud`` in the world frame of the cameras; ``textures`` maps
    ``albedo`` (T, T, 3), ``normal`` (T, T, 3, tangent space, OpenGL +y) and ``roughness`` (T, T)
    to float32 images in [0, 1] (empty before ``optimize_textures``); ``cameras`` are the
    reconstruction's cameras (at the working resolution); ``frames`` (N, H, W, 3) float32 are the
    images they belong to (kept for texture baking); ``metadata`` holds ``quality_metrics``,
    ``parameters`` and ``timings``.
    """

    mesh: Mesh
    point_cloud: PointCloud
    cameras: Cameras
    textures: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    frames: Optional[np.ndarray] = None

    def save(self, directory: str | Path) -> Path:
        """Write the scene directory (see the module docstring); returns it."""
        import imageio.v3 as iio

        d = Path(directory)
        (d / "textures").mkdir(parents=True, exist_ok=True)
        arrays = {"mesh_vertices": self.mesh.vertices, "mesh_faces": self.mesh.faces, "points": self.point_cloud.points}
        for name in ("normals", "colors", "uvs"):
            if getattr(self.mesh, name) is not None:
                arrays[f"mesh_{name}"] = getattr(self.mesh, name)
        for name in ("colors", "normals"):
            if getattr(self.point_cloud, name) is not None:
                arrays[f"points_{name}"] = getattr(self.point_cloud, name)
        for name, tex in self.textures.items():
            arrays[f"texture_{name}"] = tex.astype(np.float32)
        if self.frames is not None:
            arrays["frames"] = (np.clip(self.frames, 0, 1) * 255 + 0.5).astype(np.uint8)
        with atomic_path(d / "scene.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        for name, tex in self.textures.items():
            with atomic_path(d / "textures" / f"{name}.png") as tmp:
                iio.imwrite(tmp, (np.clip(tex, 0, 1) * 255 + 0.5).astype(np.uint8), extension=".png")
        atomic_write_json(d / "cameras.json", self.cameras.to_dict())
        atomic_write_json(d / "metadata.json", _finite_or_null(self.metadata))
        import open3d as o3d

        with atomic_path(d / "mesh.ply") as tmp:
            o3d.io.write_triangle_mesh(str(tmp), self.mesh.to_open3d())
        with atomic_path(d / "points.ply") as tmp:
            o3d.io.write_point_cloud(str(tmp), cloud_to_open3d(self.point_cloud))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "ReconstructedScene":
        """Read a scene directory written by :meth:`save`."""
        d = Path(directory)
        if not (d / "scene.npz").is_file():
            raise FileNotFoundError(f"{d}: not a scene directory (no scene.npz); run 'worldstereo reconstruct' first")
        z = np.load(d / "scene.npz")
        mesh = Mesh(z["mesh_vertices"], z["mesh_faces"], *(z[f"mesh_{n}"] if f"mesh_{n}" in z else None for n in ("normals", "colors", "uvs")))
        pcd = PointCloud(z["points"], *(z[f"points_{n}"] if f"points_{n}" in z else None for n in ("colors", "normals")))
        textures = {n: z[f"texture_{n}"] for n in TEXTURE_NAMES if f"texture_{n}" in z}
        frames = z["frames"].astype(np.float32) / 255.0 if "frames" in z else None
        return cls(mesh, pcd, _read_cameras(d / "cameras.json"), textures, _read_metadata(d / "metadata.json"), frames)


def _read_cameras(path: Path) -> Cameras:
    """``cameras.json`` of a scene folder; anything wrong raises ``jsonio.JSONInputError`` naming the file and field."""
    fix = "rerun `worldstereo reconstruct` to write it again"
    data = jsonio.check(jsonio.load(path, "scene cameras"), CAMERAS_SCHEMA, str(path), fix)
    try:
        return Cameras.from_dict(data)
    except CameraValidationError as exc:
        raise jsonio.JSONInputError(f"{path}: {exc}; {fix}") from None


def _finite_or_null(obj):
    """``obj`` with every non-finite float as ``None``: a metric that could not be computed is
    ``null`` in ``metadata.json``, which stays strict JSON (``jsonio`` refuses NaN)."""
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj


def _read_metadata(path: Path) -> dict:
    return jsonio.check(jsonio.load(path, "scene metadata"), {"type": "object"}, str(path),
                        "rerun `worldstereo reconstruct` to write it again")
