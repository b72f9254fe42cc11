"""Textured primitive meshes for synthetic scenes: geometry from trimesh, texture coordinates here.

Every builder returns a :class:`Part` in its local frame with the project's axes (OpenCV world:
y down, so "up" is -y) and its base resting on y = 0. Texture coordinates are stored per triangle
corner, (T, 3, 2), so seams need no duplicated vertices; they are in texture tiles (a texture
covers ``tile`` metres and repeats beyond).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

# trimesh builds primitives along +z; turning +z into -y (up in OpenCV world axes) is +90 deg about x.
_Z_TO_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Part:
    """A mesh with per-corner texture coordinates: vertices (V, 3), faces (T, 3), uvs (T, 3, 2)."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray

    def transformed(self, R: np.ndarray, t: np.ndarray) -> "Part":
        """The part rotated by ``R`` then moved by ``t``; texture coordinates travel with it."""
        return Part(self.vertices @ np.asarray(R).T + np.asarray(t), self.faces, self.uvs)


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _triplanar(vertices: np.ndarray, faces: np.ndarray, tile: float) -> np.ndarray:
    """Box mapping: each triangle is projected on the plane of its dominant normal axis."""
    tri = vertices[faces]
    axis = np.abs(_face_normals(vertices, faces)).argmax(1)
    # the two in-plane axes for a normal along x, y, z; v follows +y (down) on walls so images stand upright
    plane = np.array([[2, 1], [0, 2], [0, 1]])[axis]
    u = np.take_along_axis(tri, plane[:, None, 0:1].repeat(3, 1), 2)[..., 0]
    v = np.take_along_axis(tri, plane[:, None, 1:2].repeat(3, 1), 2)[..., 0]
    return np.stack([u, v], -1) / tile


def _unwrap_seam(u: np.ndarray) -> np.ndarray:
    """Per triangle, lift corners across the 1 -> 0 wrap so that no triangle spans the whole texture."""
    u = u.copy()
    span = u.max(1) - u.min(1)
    fix = span > 0.5
    u[fix] = np.where(u[fix] < 0.5, u[fix] + 1.0, u[fix])
    return u


def _azimuth(tri: np.ndarray) -> np.ndarray:
    return np.arctan2(tri[..., 0], tri[..., 2]) / (2 * np.pi) + 0.5


def box(width: float, height: float, depth: float, tile: float) -> Part:
    """An axis-aligned box, ``width`` along x, ``height`` up (-y), ``depth`` along z."""
    mesh = trimesh.creation.box(extents=(width, depth, height))
    v = mesh.vertices @ _Z_TO_UP.T + [0.0, -height / 2, 0.0]
    f = np.asarray(mesh.faces)
    return Part(v, f, _triplanar(v, f, tile))


def sphere(radius: float, tile: float, subdivisions: int = 3) -> Part:
    """An icosphere resting on y = 0, mapped by longitude / latitude."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    v = np.asarray(mesh.vertices) + [0.0, -radius, 0.0]
    f = np.asarray(mesh.faces)
    local = mesh.vertices[f]
    circumference = 2 * np.pi * radius
    u = _unwrap_seam(_azimuth(local)) * max(1.0, round(circumference / tile))
    v_tex = np.arccos(np.clip(-local[..., 1] / radius, -1, 1)) / np.pi * max(1.0, round(circumference / 2 / tile))
    return Part(v, f, np.stack([u, v_tex], -1))


def _revolved(mesh: trimesh.Trimesh, radius: float, tile: float, offset: float) -> Part:
    """Cylindrical mapping on the side, box mapping on the caps, for trimesh's z-axis solids."""
    v = mesh.vertices @ _Z_TO_UP.T + [0.0, offset, 0.0]
    f = np.asarray(mesh.faces)
    uv = _triplanar(v, f, tile)
    side = np.abs(_face_normals(v, f)[:, 1]) < 0.9
    tri = v[f[side]]
    repeats = max(1.0, round(2 * np.pi * radius / tile))
    uv[side, :, 0] = _unwrap_seam(_azimuth(tri)) * repeats
    uv[side, :, 1] = tri[..., 1] / tile
    return Part(v, f, uv)


def cylinder(radius: float, height: float, tile: float, sections: int = 32) -> Part:
    """An upright cylinder with its base on y = 0."""
    return _revolved(trimesh.creation.cylinder(radius=radius, height=height, sections=sections), radius, tile, -height / 2)


def cone(radius: float, height: float, tile: float, sections: int = 32) -> Part:
    """An upright cone with its base on y = 0 and its apex at y = -height."""
    return _revolved(trimesh.creation.cone(radius=radius, height=height, sections=sections), radius, tile, 0.0)


def quad(corners: np.ndarray, tile: float) -> Part:
    """A planar quadrilateral from 4 corners in order, box-mapped (floors, walls, ground)."""
    v = np.asarray(corners, dtype=np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    return Part(v, f, _triplanar(v, f, tile))


def dome(radius: float, repeats: int = 4, subdivisions: int = 4) -> Part:
    """A sphere seen from inside, centred at the origin, mapped for :func:`textures.sky_texture`:
    u = azimuth (``repeats`` times round), v = 0 at the zenith and 1 at the horizon and below."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    tri = v[f]
    u = _unwrap_seam(_azimuth(tri)) * repeats
    elevation = np.arcsin(np.clip(-tri[..., 1] / radius, -1, 1))
    # stay one texel short of v = 1 so the bilinear wrap never blends the zenith into the horizon
    v_tex = np.clip(1 - elevation / (np.pi / 2), 0.0, 1.0 - 1.0 / 256)
    return Part(v, f, np.stack([u, v_tex], -1))


def yaw(degrees: float) -> np.ndarray:
    """Rotation about the vertical (y) axis."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
