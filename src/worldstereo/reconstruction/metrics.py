"""Quality metrics of a reconstruction, each in [0, 1] (higher is better), computed from the
frames and cameras alone (no ground truth):

- ``completeness``: share of all frame pixels covered by the mesh reprojected (ray cast) into
  the frames.
- ``geometric_consistency``: share of the pixels with a multi-view-consistent depth estimate
  (the filtered MVS / prior depth) where the mesh depth agrees within 2 % (relative).
- ``texture_quality``: mean SSIM between each frame and the mesh render with its vertex colours,
  over the covered pixels (clipped at 0): sharpness and detail preserved by the geometry + colours.
- ``multiview_consistency``: mean photometric agreement of mesh reprojections across views: for
  every vertex visible in >= 2 views, ``max(0, 1 - |c_view - c_mean| / 0.1)`` averaged over its
  views and channels (c_mean = the vertex's mean colour over those views), then over vertices.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..camera import Cameras
from .raycast import MeshCaster, MeshRender, sample_frames, visible_vertices
from .result import Mesh

PHOTO_TOL = 0.1


def completeness(render: MeshRender) -> float:
    return float((render.face >= 0).mean())


def geometric_consistency(render: MeshRender, depth: Optional[np.ndarray], rel_tol: float = 0.02) -> float:
    if depth is None or not (depth > 0).any():
        return 0.0
    valid = depth > 0
    ok = valid & (render.depth > 0) & (np.abs(render.depth - depth) <= rel_tol * depth)
    return float(ok.sum() / valid.sum())


def texture_quality(render: MeshRender, mesh: Mesh, frames: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    if mesh.colors is None or not (render.face >= 0).any():
        return 0.0
    img = render.interpolate(mesh, mesh.colors.astype(np.float64))
    scores = []
    for k in range(len(frames)):
        hit = render.face[k] >= 0
        if hit.sum() < 16:
            continue
        _, smap = structural_similarity(frames[k], img[k].astype(np.float32), channel_axis=2, data_range=1.0, full=True, win_size=7)
        scores.append(float(smap.mean(-1)[hit].mean()))
    return float(np.clip(np.mean(scores), 0, 1)) if scores else 0.0


def multiview_consistency(mesh: Mesh, frames: np.ndarray, cams: Cameras, render: MeshRender, max_vertices: int = 20000) -> float:
    if len(mesh.vertices) == 0:
        return 0.0
    idx = np.random.default_rng(0).permutation(len(mesh.vertices))[:max_vertices]
    sub = Mesh(mesh.vertices[idx], np.zeros((0, 3), np.int64))
    vis = visible_vertices(sub, cams, render, rel_tol=0.02)  # (N, v)
    cols = sample_frames(frames, cams, sub.vertices)  # (N, v, 3)
    n = vis.sum(0)
    keep = n >= 2
    if not keep.any():
        return 0.0
    w = vis[:, keep, None].astype(np.float64)
    c = cols[:, keep].astype(np.float64)
    mean = (w * c).sum(0) / n[keep, None]
    agree = np.clip(1 - np.abs(c - mean) / PHOTO_TOL, 0, 1)
    per_vertex = (w * agree).sum(0).mean(-1) / n[keep]
    return float(per_vertex.mean())


def quality_metrics(mesh: Mesh, frames: np.ndarray, cams: Cameras, depth: Optional[np.ndarray] = None,
                    render: Optional[MeshRender] = None) -> dict[str, float]:
    """The four metrics of the module docstring for a mesh seen by ``cams`` (frames (N, H, W, 3))."""
    render = render or MeshCaster(mesh).render(cams)
    return {
        "completeness": completeness(render),
        "geometric_consistency": geometric_consistency(render, depth),
        "texture_quality": texture_quality(render, mesh, frames),
        "multiview_consistency": multiview_consistency(mesh, frames, cams, render),
    }
