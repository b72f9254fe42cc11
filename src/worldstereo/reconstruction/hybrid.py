"""Hybrid surface: per view and pixel, the more photo-consistent of the MVS depth and the neural
surface's depth, fused into one TSDF mesh.

The neural surface (``neural.py``) is complete where stereo is not (textureless or unmatched pixels)
but smooths what stereo resolves; the filtered MVS depth is sharp where it exists. For every pixel of
every view both candidates are lifted to 3D and scored by multi-view photometric agreement: the mean
over the other views that see the point (inside the image, not behind the neural surface there) of
``max(0, 1 - |c_view - c_ref| / PHOTO_TOL)`` per channel. The better candidate is kept when its score
reaches ``min_score``; pixels where neither does stay empty. The chosen depth maps are fused by the
same TSDF as ``mvs``, so the result is one surface (no seams or doubled layers where the two meet).
"""

from __future__ import annotations

import logging

import numpy as np

from ..camera import Cameras
from .metrics import PHOTO_TOL
from .raycast import MeshCaster, sample_frames
from .result import Mesh

log = logging.getLogger(__name__)


def photo_scores(depth: np.ndarray, ref: int, frames: np.ndarray, cams: Cameras, occluder: np.ndarray,
                 rel_tol: float = 0.02) -> np.ndarray:
    """(H, W) photometric agreement of view ``ref``'s pixels lifted at ``depth`` (H, W; 0 = none) with the
    other views that see them; ``occluder`` (N, H, W) z-depth per view hides points behind it (0: open).
    0 where the depth is missing or no other view sees the point."""
    H, W = depth.shape
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    d = depth.ravel().astype(np.float64)
    has = d > 0
    out = np.zeros(H * W)
    if not has.any():
        return out.reshape(H, W)
    X = cams[ref].unproject(pix[has], d[has][None])[0]
    uv, z = cams.project(X)  # (N, P, 2), (N, P)
    inside = (z > 1e-9) & (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    col = np.clip(np.nan_to_num(uv[..., 0]), 0, W - 1).astype(int)
    row = np.clip(np.nan_to_num(uv[..., 1]), 0, H - 1).astype(int)
    occ = occluder[np.arange(len(cams))[:, None], row, col]
    vis = inside & ((occ <= 0) | (z <= occ * (1 + rel_tol)))
    vis[ref] = False
    c = sample_frames(frames, cams, X)  # (N, P, 3)
    agree = np.clip(1 - np.abs(c - frames[ref].reshape(-1, 3)[has][None]) / PHOTO_TOL, 0, 1).mean(-1)
    n = vis.sum(0)
    out[has] = np.where(n > 0, (agree * vis).sum(0) / np.maximum(n, 1), 0.0)
    return out.reshape(H, W)


def hybrid_depth(mvs_depth: np.ndarray, neural: Mesh, frames: np.ndarray, cams: Cameras,
                 min_score: float = 0.6) -> np.ndarray:
    """(N, H, W) depth: per pixel the MVS depth or the neural surface's, whichever agrees better across
    views (see the module docstring); 0 where neither reaches ``min_score``."""
    neural_depth = MeshCaster(neural).render(cams).depth
    out = np.zeros_like(mvs_depth, dtype=np.float32)
    took_neural = 0
    for k in range(len(cams)):
        s_mvs = np.where(mvs_depth[k] > 0, photo_scores(mvs_depth[k], k, frames, cams, neural_depth), -1.0)
        s_neu = np.where(neural_depth[k] > 0, photo_scores(neural_depth[k], k, frames, cams, neural_depth), -1.0)
        use_neural = s_neu > s_mvs
        best = np.maximum(s_mvs, s_neu)
        out[k] = np.where(best >= min_score, np.where(use_neural, neural_depth[k], mvs_depth[k]), 0.0)
        took_neural += int((use_neural & (best >= min_score)).sum())
    kept = int((out > 0).sum())
    log.info("hybrid: %.1f %% of the pixels kept, %.0f %% of them from the neural surface",
             100 * kept / out.size, 100 * took_neural / max(kept, 1))
    return out
