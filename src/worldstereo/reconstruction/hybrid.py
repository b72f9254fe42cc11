"""Hybrid surface: keep, per region, whichever of the MVS (TSDF) and neural meshes is the more
photo-consistent across views.

The neural surface is already initialised and supervised by the MVS depth (``neural.py``). Here
space is cut into cubic cells; in each cell the faces of both meshes are scored by multi-view
photometric agreement (``metrics.PHOTO_TOL``) and the mesh with the higher mean score wins the
cell. A cell covered by one mesh only keeps it if its score reaches ``min_alone``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..camera import Cameras
from .metrics import PHOTO_TOL
from .raycast import MeshCaster, sample_frames, visible_points
from .refine import _subset
from .result import Mesh

log = logging.getLogger(__name__)


def face_photoconsistency(mesh: Mesh, frames: np.ndarray, cams: Cameras) -> np.ndarray:
    """(F,) score in [0, 1] per face: agreement of the face centre's colours over the views where
    it is visible (depth test against the mesh's own render); 0 when seen in fewer than 2 views."""
    centre = mesh.vertices[mesh.faces].mean(1)
    vis = visible_points(centre, cams, MeshCaster(mesh).render(cams), rel_tol=0.02)
    c = sample_frames(frames, cams, centre).astype(np.float64)
    n = vis.sum(0)
    mean = (c * vis[..., None]).sum(0) / np.maximum(n, 1)[:, None]
    agree = (np.clip(1 - np.abs(c - mean) / PHOTO_TOL, 0, 1).mean(-1) * vis).sum(0) / np.maximum(n, 1)
    return np.where(n >= 2, agree, 0.0)


def merge_by_photoconsistency(mvs: Mesh, neural: Mesh, frames: np.ndarray, cams: Cameras, cell: float,
                              min_alone: float = 0.5) -> Mesh:
    """One mesh from the two, chosen per ``cell``-sized cube (see the module docstring)."""
    meshes = [mvs, neural]
    scores = [face_photoconsistency(m, frames, cams) for m in meshes]
    keys = [np.floor(m.vertices[m.faces].mean(1) / cell).astype(np.int64) for m in meshes]
    allk, inv = np.unique(np.concatenate(keys), axis=0, return_inverse=True)
    inv = inv.ravel()
    split = len(keys[0])
    cell_ids = [inv[:split], inv[split:]]
    means, counts = [], []
    for ids, sc in zip(cell_ids, scores):
        cnt = np.bincount(ids, minlength=len(allk))
        means.append(np.bincount(ids, weights=sc, minlength=len(allk)) / np.maximum(cnt, 1))
        counts.append(cnt)
    both = (counts[0] > 0) & (counts[1] > 0)
    win_neural = np.where(both, means[1] > means[0], (counts[1] > 0) & (means[1] >= min_alone))
    win_mvs = np.where(both, ~win_neural, (counts[0] > 0) & (means[0] >= min_alone))
    parts = [_subset(mvs, win_mvs[cell_ids[0]]), _subset(neural, win_neural[cell_ids[1]])]
    log.info("hybrid: %d cells, %.0f %% won by the neural surface", len(allk), 100 * win_neural[both].mean() if both.any() else 0)
    verts = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([parts[0].faces, parts[1].faces + len(parts[0].vertices)])
    return Mesh(verts, faces).compute_normals()
