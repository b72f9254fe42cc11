"""Depth of an equirectangular panorama from a perspective depth model run on overlapping views.

Each view's prediction is known only up to its own scale (metric models: the scale drifts from
view to view) or scale and shift (relative models: inverse depth). The views are aligned to each
other in their overlaps by one global least-squares problem anchored on view 0, then fused with
weights that fall to zero at each view's border, so no view's edge shows as a seam.

- ``kind="depth"``: per view i a log-scale s_i; minimise sum over overlap pixels of
  (log D_i + s_i - log D_j - s_j)^2 with s_0 = 0 (D = distance along the pixel's ray).
- ``kind="disparity"``: per view an affine map of its inverse depth x_i, 1/z = a_i x_i + b_i; in
  the overlaps (a_i x_i + b_i) / n_i = (a_j x_j + b_j) / n_j (n = the ray's length at z = 1), with
  a_0 = 1, b_0 = 0. The fused result is then only relative: :func:`fuse_panorama_depth` normalises it
  to a median distance of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldstereo.camera import Cameras
from worldstereo.camera.panorama import equirect_directions

# Weight of a view at normalised offset r from its centre (r = 1 at the border): (1 - r)^BLEND_POWER.
BLEND_POWER = 2.0
# At most this many overlap pixels per view pair enter the least squares (evenly subsampled).
MAX_PAIR_SAMPLES = 4000


@dataclass
class ViewSamples:
    """The views' predictions resampled on the panorama grid (P = He * We pixels).

    value (N, P): the prediction (depth or inverse depth along z), NaN where the view does not see
    the pixel; ray_norm (N, P): |ray| at z = 1; weight (N, P): blend weight, 0 outside.
    """

    value: np.ndarray
    ray_norm: np.ndarray
    weight: np.ndarray
    covered: np.ndarray


def sample_views(pred: np.ndarray, views: Cameras, height: int, width: int) -> ViewSamples:
    """Resample per-view predictions (N, H, W) onto an equirect grid (height, width), nearest pixel."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != (len(views), views.height, views.width):
        raise ValueError(f"sample_views: predictions must be ({len(views)}, {views.height}, {views.width}), "
                         f"got {pred.shape}")
    d = equirect_directions(height, width).reshape(-1, 3).numpy().astype(np.float64)
    uv, z = views.project(d + views.centers[:1])
    w, h = views.width, views.height
    off = np.maximum(np.abs(uv[..., 0] / w - 0.5), np.abs(uv[..., 1] / h - 0.5)) * 2
    covered = (z > 0) & (off < 1)
    col = np.clip(np.floor(uv[..., 0]).astype(np.int64), 0, w - 1)
    row = np.clip(np.floor(uv[..., 1]).astype(np.int64), 0, h - 1)
    value = np.take_along_axis(pred.reshape(len(views), -1), row * w + col, axis=1)
    ok = covered & np.isfinite(value) & (value > 0)
    value = np.where(ok, value, np.nan)
    # z of the unit direction in the view's frame: |ray at z=1| = 1 / z
    ray_norm = np.where(z > 0, 1.0 / np.maximum(z, 1e-9), np.nan)
    weight = np.where(ok, np.clip(1.0 - off, 0.0, 1.0) ** BLEND_POWER, 0.0)
    return ViewSamples(value, ray_norm, weight, ok)


def _pairs(s: ViewSamples, rng: np.random.Generator):
    n = len(s.value)
    for i in range(n):
        for j in range(i + 1, n):
            idx = np.flatnonzero(s.covered[i] & s.covered[j])
            if len(idx) == 0:
                continue
            if len(idx) > MAX_PAIR_SAMPLES:
                idx = rng.choice(idx, MAX_PAIR_SAMPLES, replace=False)
            yield i, j, idx


def align_views(s: ViewSamples, kind: str = "depth", anchor: int = 0, seed: int = 0) -> np.ndarray:
    """Per-view corrections from the overlaps: (N,) log-scales for ``depth``, (N, 2) (a, b) for
    ``disparity``. The anchor keeps (0) / (1, 0). Views with no overlap keep the identity."""
    if kind not in ("depth", "disparity"):
        raise ValueError(f"align_views: kind must be 'depth' or 'disparity', got {kind!r}")
    n = len(s.value)
    rng = np.random.default_rng(seed)
    k = 1 if kind == "depth" else 2
    rows, rhs = [], []
    for i, j, idx in _pairs(s, rng):
        m = len(idx)
        a = np.zeros((m, n * k))
        if kind == "depth":
            a[:, i], a[:, j] = 1.0, -1.0
            rhs.append(np.log(s.value[j, idx] / s.value[i, idx]) + np.log(s.ray_norm[j, idx] / s.ray_norm[i, idx]))
        else:
            a[:, 2 * i], a[:, 2 * i + 1] = s.value[i, idx] / s.ray_norm[i, idx], 1.0 / s.ray_norm[i, idx]
            a[:, 2 * j], a[:, 2 * j + 1] = -s.value[j, idx] / s.ray_norm[j, idx], -1.0 / s.ray_norm[j, idx]
            rhs.append(np.zeros(m))
        rows.append(a)
    ident = np.zeros(n * k) if kind == "depth" else np.tile([1.0, 0.0], n)
    if not rows:
        return ident.reshape(n, -1).squeeze(-1) if kind == "depth" else ident.reshape(n, 2)
    A, y = np.concatenate(rows), np.concatenate(rhs)
    # anchor: move its fixed unknowns to the right-hand side; a tiny ridge towards the identity
    # keeps views that no overlap reaches where they are
    fixed = [anchor] if kind == "depth" else [2 * anchor, 2 * anchor + 1]
    free = np.setdiff1d(np.arange(n * k), fixed)
    y = y - A[:, fixed] @ ident[fixed]
    Af = A[:, free]
    scale = max(float(np.abs(Af).mean()), 1e-12)
    ridge = 1e-6 * scale ** 2 * len(y) / max(len(free), 1)
    lhs = Af.T @ Af + ridge * np.eye(len(free))
    sol = ident.copy()
    sol[free] = np.linalg.solve(lhs, Af.T @ y + ridge * ident[free])
    return sol if kind == "depth" else sol.reshape(n, 2)


def aligned_distance(s: ViewSamples, params: np.ndarray, kind: str = "depth") -> np.ndarray:
    """Each view's distance along the panorama rays (N, P) after its correction, NaN outside."""
    if kind == "depth":
        return s.value * np.exp(np.asarray(params))[:, None] * s.ray_norm
    inv_z = params[:, :1] * s.value + params[:, 1:]
    return np.where(inv_z > 0, s.ray_norm / np.where(inv_z > 0, inv_z, 1.0), np.nan)


def blend(dist: np.ndarray, weight: np.ndarray, height: int, width: int) -> np.ndarray:
    """Weighted mean of the views' distances -> (height, width) float32, 0 where no view sees."""
    w = np.where(np.isfinite(dist), weight, 0.0)
    total = w.sum(0)
    out = np.where(total > 0, (np.nan_to_num(dist) * w).sum(0) / np.maximum(total, 1e-12), 0.0)
    return out.reshape(height, width).astype(np.float32)


def fuse_panorama_depth(pred: np.ndarray, views: Cameras, height: int, width: int, kind: str = "depth",
                        align: bool = True, feather: bool = True) -> np.ndarray:
    """Per-view predictions (N, H, W) (z-depth for ``depth``, inverse z-depth for ``disparity``)
    -> one equirect distance map (height, width) float32, 0 = invalid. Relative (``disparity``)
    results are normalised to a median distance of 1. ``feather=False`` takes each pixel from its
    most central view (a hard stitch, to measure seams)."""
    s = sample_views(pred, views, height, width)
    if not feather:
        best = s.weight.argmax(0)
        s.weight = np.where(np.arange(len(views))[:, None] == best[None], s.weight, 0.0)
    if align:
        params = align_views(s, kind)
    else:
        params = np.zeros(len(views)) if kind == "depth" else np.tile([1.0, 0.0], (len(views), 1))
    fused = blend(aligned_distance(s, params, kind), s.weight, height, width)
    if kind == "disparity" and (fused > 0).any():
        fused = (fused / np.median(fused[fused > 0])).astype(np.float32)
    return fused


def seam_pairs(views: Cameras, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontally / vertically adjacent panorama pixel pairs (flat indices p, q) whose most
    central view differs: where a hard stitch switches views, i.e. where a seam would show."""
    s = sample_views(np.ones((len(views), views.height, views.width)), views, height, width)
    best = np.where(s.covered.any(0), s.weight.argmax(0), -1)
    cov = (np.arange(len(views))[:, None] == best[None]).reshape(len(views), height, width)
    idx = np.arange(height * width).reshape(height, width)
    right = (cov != np.roll(cov, -1, axis=2)).any(0) & (np.roll(best.reshape(height, width), -1, axis=1) >= 0)
    right &= best.reshape(height, width) >= 0
    down = np.zeros_like(right)
    down[:-1] = (cov[:, :-1] != cov[:, 1:]).any(0) & (best.reshape(height, width)[:-1] >= 0) & (best.reshape(height, width)[1:] >= 0)
    p = np.concatenate([idx[right], idx[down]])
    q = np.concatenate([np.roll(idx, -1, axis=1)[right], idx[1:][down[:-1]]])
    return p, q
