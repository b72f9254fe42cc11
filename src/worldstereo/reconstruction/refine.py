"""refine_mesh: small-component removal, hole filling, normal smoothing, quadric simplification."""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from .result import Mesh

log = logging.getLogger(__name__)


def remove_small_components(mesh: Mesh, min_share: float = 0.002, min_faces: int = 50) -> Mesh:
    """Drop connected components with fewer than ``max(min_faces, min_share * F)`` faces (floaters)."""
    if len(mesh.faces) == 0:
        return mesh
    m = mesh.to_open3d()
    labels, counts, _ = m.cluster_connected_triangles()
    labels, counts = np.asarray(labels), np.asarray(counts)
    keep_face = counts[labels] >= max(min_faces, min_share * len(mesh.faces))
    if keep_face.all():
        return mesh
    if not keep_face.any():  # nothing big: keep the largest rather than return an empty mesh
        keep_face = labels == np.argmax(counts)
    return _subset(mesh, keep_face)


def _subset(mesh: Mesh, keep_face: np.ndarray) -> Mesh:
    faces = mesh.faces[keep_face]
    used = np.unique(faces)
    remap = np.full(len(mesh.vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    pick = lambda a: None if a is None else a[used]  # noqa: E731
    return Mesh(mesh.vertices[used], remap[faces], pick(mesh.normals), pick(mesh.colors), pick(mesh.uvs))


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Closed loops of boundary vertices (edges used by one face), following the face orientation."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = np.sort(e, 1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = e[cnt[inv.ravel()] == 1]
    nxt: dict[int, int] = {}
    for a, b in boundary:
        # boundary edges run a->b inside the face; the hole is walked the other way round
        nxt.setdefault(int(b), int(a))
    loops, seen = [], set()
    for start in list(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in nxt:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        if v == start and len(loop) >= 3:
            loops.append(loop)
    return loops


def fill_small_holes(mesh: Mesh, max_edges: int = 64) -> Mesh:
    """Close boundary loops of at most ``max_edges`` edges with a fan around the loop centroid."""
    loops = [lp for lp in boundary_loops(mesh.faces) if len(lp) <= max_edges]
    if not loops:
        return mesh
    verts, faces = [mesh.vertices], [mesh.faces]
    cols = [mesh.colors] if mesh.colors is not None else None
    n = len(mesh.vertices)
    for lp in loops:
        idx = np.asarray(lp)
        verts.append(mesh.vertices[idx].mean(0, keepdims=True))
        if cols is not None:
            cols.append(mesh.colors[idx].mean(0, keepdims=True))
        faces.append(np.stack([idx, np.roll(idx, -1), np.full(len(idx), n)], 1))
        n += 1
    log.info("filled %d holes", len(loops))
    out = Mesh(np.concatenate(verts), np.concatenate(faces), colors=None if cols is None else np.concatenate(cols))
    return out.compute_normals()


def smooth_vertex_normals(mesh: Mesh, iterations: int = 2) -> Mesh:
    """Area-weighted normals, then averaged over each vertex's 1-ring ``iterations`` times."""
    m = mesh.compute_normals()
    nrm = m.normals.astype(np.float64)
    f = mesh.faces
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    A = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(nrm), len(nrm))).tocsr()
    A.data[:] = 1.0
    for _ in range(iterations):
        nrm = nrm + A @ nrm
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
    m.normals = nrm.astype(np.float32)
    return m


def simplify_mesh(mesh: Mesh, ratio: float) -> Mesh:
    """Quadric decimation (fast-simplification) to about ``ratio`` of the faces; colours and UVs are
    carried over from the nearest original vertex."""
    import fast_simplification

    if not 0 < ratio <= 1:
        raise ValueError(f"simplify: target ratio must be in (0, 1], got {ratio}")
    if ratio == 1 or len(mesh.faces) < 8:
        return mesh
    v, f = fast_simplification.simplify(mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), target_reduction=1 - ratio)
    _, near = cKDTree(mesh.vertices).query(v)
    out = Mesh(v, f, colors=None if mesh.colors is None else mesh.colors[near])
    return out.compute_normals()


def refine_mesh(mesh: Mesh, remove_outliers: bool = True, smooth_normals: bool = True, fill_holes: bool = True,
                simplify: Optional[float] = None, *, max_hole_edges: int = 64, smoothing_iterations: int = 0) -> Mesh:
    """Clean a mesh: remove small components, fill holes of at most ``max_hole_edges`` edges,
    Taubin-smooth the geometry ``smoothing_iterations`` times, decimate to ``simplify`` x the faces
    (quadric error, 0-1), and smooth the vertex normals. UVs are dropped when the topology changes
    (re-run ``optimize_textures`` to get an atlas for the new mesh)."""
    out = mesh
    if remove_outliers:
        out = remove_small_components(out)
    if fill_holes:
        out = fill_small_holes(out, max_hole_edges)
    if smoothing_iterations > 0 and len(out.faces):
        m = out.to_open3d().filter_smooth_taubin(number_of_iterations=smoothing_iterations)
        out = Mesh(np.asarray(m.vertices), out.faces, colors=out.colors)
    if simplify is not None:
        out = simplify_mesh(out, simplify)
    out = smooth_vertex_normals(out) if smooth_normals else out.compute_normals()
    if out is not mesh and len(out.vertices) != len(mesh.vertices):
        out.uvs = None
    return out
