"""Similarity alignment: closed-form Umeyama, RANSAC-Umeyama for outlier-ridden pairs, point-to-point ICP.

All functions work in numpy float64 and return ``dst ~= s R src + t`` as a :class:`Sim3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class Sim3:
    """A similarity ``x -> scale * R x + t`` (``dst_from_src``)."""

    scale: float
    R: np.ndarray
    t: np.ndarray

    @classmethod
    def identity(cls) -> "Sim3":
        return cls(1.0, np.eye(3), np.zeros(3))

    @classmethod
    def from_matrix(cls, m: Any) -> "Sim3":
        """From a 4x4 ``[[sR, t], [0, 1]]`` with s > 0."""
        m = np.asarray(m, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"Sim3.from_matrix: expected a 4x4 matrix, got shape {m.shape}")
        s = float(np.cbrt(np.linalg.det(m[:3, :3])))
        if not s > 0:
            raise ValueError("Sim3.from_matrix: the linear part has det <= 0; not a similarity")
        return cls(s, m[:3, :3] / s, m[:3, 3].copy())

    @property
    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.scale * self.R
        m[:3, 3] = self.t
        return m

    def apply(self, points: Any) -> np.ndarray:
        """(..., 3) -> (..., 3)."""
        return self.scale * np.asarray(points, dtype=np.float64) @ self.R.T + self.t

    def inverse(self) -> "Sim3":
        Ri = self.R.T
        return Sim3(1.0 / self.scale, Ri, -(Ri @ self.t) / self.scale)

    def __matmul__(self, other: "Sim3") -> "Sim3":
        """Composition: ``(a @ b).apply(x) == a.apply(b.apply(x))``."""
        return Sim3(self.scale * other.scale, self.R @ other.R, self.scale * self.R @ other.t + self.t)


@dataclass(frozen=True)
class AlignResult:
    """A robust alignment: the transform, which pairs agree with it and how well."""

    transform: Sim3
    inliers: np.ndarray  # (P,) bool
    rmse: float  # RMS residual over inliers, in dst units
    inlier_ratio: float


def _umeyama_batched(src: np.ndarray, dst: np.ndarray, w: np.ndarray, with_scale: bool):
    """Weighted Umeyama for B problems at once: src, dst (B, P, 3), w (B, P) summing to 1."""
    mu_s = np.einsum("bp,bpi->bi", w, src)
    mu_d = np.einsum("bp,bpi->bi", w, dst)
    xs, xd = src - mu_s[:, None], dst - mu_d[:, None]
    cov = np.einsum("bp,bpi,bpj->bij", w, xd, xs)
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones_like(S)
    D[:, 2] = np.where(d == 0, 1.0, d)
    R = U @ (D[:, :, None] * Vt)
    var_s = np.einsum("bp,bpi,bpi->b", w, xs, xs)
    if with_scale:
        s = np.einsum("bi,bi->b", S, D) / np.maximum(var_s, 1e-300)
    else:
        s = np.ones(len(src))
    t = mu_d - s[:, None] * np.einsum("bij,bj->bi", R, mu_s)
    return s, R, t, var_s, S


def _pairs(src: Any, dst: Any, fn: str) -> tuple[np.ndarray, np.ndarray]:
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or src.shape != dst.shape:
        raise ValueError(f"{fn}: src and dst must both be (P, 3), got {src.shape} and {dst.shape}")
    if len(src) < 3:
        raise ValueError(f"{fn}: need at least 3 point pairs, got {len(src)}")
    return src, dst


def umeyama(src: Any, dst: Any, with_scale: bool = True, weights: Optional[Any] = None) -> Sim3:
    """Least-squares similarity (Umeyama 1991) with ``dst ~= s R src + t`` for paired points (P, 3).

    Raises ValueError when the pairs cannot fix a transform (all ``src`` points coincide or are collinear).
    """
    src, dst = _pairs(src, dst, "umeyama")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (len(src),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"umeyama: weights must be {len(src)} non-negative values with a positive sum")
    s, R, t, var_s, S = _umeyama_batched(src[None], dst[None], (w / w.sum())[None], with_scale)
    spread = np.linalg.svd(src - src.mean(0), compute_uv=False)
    if var_s[0] <= 1e-20 or spread[1] <= 1e-9 * max(spread[0], 1e-300):
        raise ValueError("umeyama: src points are coincident or collinear; the rotation is undetermined")
    return Sim3(float(s[0]), R[0], t[0])


def ransac_umeyama(
    src: Any,
    dst: Any,
    with_scale: bool = True,
    threshold: Optional[float] = None,
    iterations: int = 256,
    sample_size: int = 4,
    max_eval_points: int = 4096,
    seed: int = 0,
) -> AlignResult:
    """Umeyama robust to outlier pairs: best of ``iterations`` minimal fits, refit on its inliers.

    Args:
        src, dst: (P, 3) paired points.
        threshold: inlier residual in dst units (default 2 % of the median distance of dst to
            its median point, i.e. relative to the scene's size).
        iterations: hypotheses, scored on at most ``max_eval_points`` random pairs.
    Returns:
        :class:`AlignResult`; ``inliers`` over all P pairs after the refit.
    """
    src, dst = _pairs(src, dst, "ransac_umeyama")
    rng = np.random.default_rng(seed)
    if threshold is None:
        threshold = 0.02 * float(np.median(np.linalg.norm(dst - np.median(dst, 0), axis=1)))
    threshold = max(threshold, 1e-12)
    p = len(src)
    sample = rng.choice(p, size=(iterations, min(sample_size, p)), replace=True)
    w = np.full(sample.shape, 1.0 / sample.shape[1])
    s, R, t, var_s, _ = _umeyama_batched(src[sample], dst[sample], w, with_scale)
    ok = (var_s > 1e-20) & np.all(np.isfinite(t), 1) & (s > 0)
    ev = rng.choice(p, size=min(p, max_eval_points), replace=False)
    pred = s[:, None, None] * np.einsum("bij,pj->bpi", R, src[ev]) + t[:, None]
    count = (np.linalg.norm(pred - dst[ev], axis=-1) < threshold).sum(1)
    count[~ok] = -1
    best = Sim3(float(s[count.argmax()]), R[count.argmax()], t[count.argmax()])
    inl = np.linalg.norm(best.apply(src) - dst, axis=1) < threshold
    for _ in range(3):  # refit on inliers; the set usually stabilises in one or two rounds
        if inl.sum() < 3:
            break
        try:
            best = umeyama(src[inl], dst[inl], with_scale)
        except ValueError:
            break
        new = np.linalg.norm(best.apply(src) - dst, axis=1) < threshold
        if np.array_equal(new, inl):
            break
        inl = new
    res = np.linalg.norm(best.apply(src) - dst, axis=1)
    rmse = float(np.sqrt(np.mean(res[inl] ** 2))) if inl.any() else float("inf")
    return AlignResult(best, inl, rmse, float(inl.mean()))


def icp(
    src: Any,
    dst: Any,
    init: Optional[Any] = None,
    with_scale: bool = False,
    max_distance: Optional[float] = None,
    max_iterations: int = 50,
    tolerance: float = 1e-8,
) -> AlignResult:
    """Point-to-point ICP of cloud ``src`` (P, 3) onto cloud ``dst`` (Q, 3), optionally with scale.

    Implemented with scipy's cKDTree and :func:`umeyama` (not Open3D: ``geometry`` may not import
    it; Open3D's ``registration_icp`` with ``TransformationEstimationPointToPoint(with_scaling)`` is
    the equivalent). ``init`` is a :class:`Sim3` or 4x4 matrix ``dst_from_src``; pairs farther
    than ``max_distance`` (default: unlimited) are ignored.
    """
    from scipy.spatial import cKDTree

    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    for name, a in (("src", src), ("dst", dst)):
        if a.ndim != 2 or a.shape[1] != 3 or len(a) < 3:
            raise ValueError(f"icp: {name} must be (P, 3) with P >= 3, got {a.shape}")
    T = Sim3.identity() if init is None else init if isinstance(init, Sim3) else Sim3.from_matrix(init)
    tree = cKDTree(dst)
    bound = np.inf if max_distance is None else max_distance
    prev = np.inf
    for _ in range(max_iterations):
        moved = T.apply(src)
        dist, nn = tree.query(moved, distance_upper_bound=bound)
        valid = np.isfinite(dist)
        if valid.sum() < 3:
            raise ValueError("icp: fewer than 3 correspondences within max_distance; give a better init")
        T = umeyama(moved[valid], dst[nn[valid]], with_scale) @ T
        err = float(np.sqrt(np.mean(dist[valid] ** 2)))
        if abs(prev - err) <= tolerance * max(err, 1e-12):
            break
        prev = err
    dist, _ = tree.query(T.apply(src), distance_upper_bound=bound)
    valid = np.isfinite(dist)
    rmse = float(np.sqrt(np.mean(dist[valid] ** 2))) if valid.any() else float("inf")
    return AlignResult(T, valid, rmse, float(valid.mean()))
