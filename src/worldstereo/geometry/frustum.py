"""How much two cameras see of the same space: volumetric frustum overlap (the SSM retrieval score),
the cheap box-IoU variant of the official release, and the viewing-angle penalty.

Every function scores M cameras against T cameras in one call and answers an (M, T) array.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from worldstereo.camera import Cameras

DEFAULT_SAMPLES = 2048


def _check_range(near: float, far: float, fn: str) -> None:
    if not 0 < near < far < np.inf:
        raise ValueError(f"{fn}: need 0 < near < far < inf, got near={near}, far={far}")


def frustum_corners(cameras: Cameras, near: float, far: float) -> np.ndarray:
    """(N, 8, 3) world corners of the truncated frustums (near face first, image corners clockwise from top-left)."""
    _check_range(near, far, "frustum_corners")
    w, h = cameras.width, cameras.height
    pix = np.array([[0, 0], [w, 0], [w, h], [0, h]] * 2, dtype=np.float64)
    depth = np.repeat(np.array([[near] * 4 + [far] * 4]), len(cameras), 0)
    return cameras.unproject(pix, depth)


def frustum_volume(cameras: Cameras, near: float, far: float) -> np.ndarray:
    """(N,) exact volume ``W H (far^3 - near^3) / (3 fx fy)`` of each truncated frustum."""
    _check_range(near, far, "frustum_volume")
    return cameras.width * cameras.height * (far**3 - near**3) / (3 * cameras.K[:, 0, 0] * cameras.K[:, 1, 1])


def view_angles(cam_a: Cameras, cam_b: Cameras) -> np.ndarray:
    """(M, T) angle in degrees between the optical axes of ``cam_a[m]`` and ``cam_b[t]``."""
    za, zb = cam_a.R[:, 2, :], cam_b.R[:, 2, :]  # optical axes in world coordinates
    return np.degrees(np.arccos(np.clip(za @ zb.T, -1.0, 1.0)))


def angle_penalty(angle_deg: np.ndarray) -> np.ndarray:
    """``clip(exp((90 deg - angle) / 180 deg * 5), 0, 1)``: 1 up to 90 degrees apart, then decaying."""
    return np.clip(np.exp((90.0 - np.asarray(angle_deg)) / 180.0 * 5.0), 0.0, 1.0)


def frustum_box_iou(cam_a: Cameras, cam_b: Cameras, near: float, far: float) -> np.ndarray:
    """(M, T) IoU of the axis-aligned boxes around the two frustums' 8 corners (official retrieval score)."""
    ca, cb = frustum_corners(cam_a, near, far), frustum_corners(cam_b, near, far)
    lo_a, hi_a, lo_b, hi_b = ca.min(1), ca.max(1), cb.min(1), cb.max(1)
    inter = np.clip(np.minimum(hi_a[:, None], hi_b[None]) - np.maximum(lo_a[:, None], lo_b[None]), 0, None).prod(-1)
    va, vb = (hi_a - lo_a).prod(-1), (hi_b - lo_b).prod(-1)
    return inter / np.maximum(va[:, None] + vb[None] - inter, 1e-300)


@lru_cache(maxsize=8)
def _canonical_samples(n: int, near: float, far: float) -> np.ndarray:
    """(4, n) homogeneous ``[s1 z, s2 z, z, 1]``: uniform by volume in any frustum once mapped by
    ``K^-1 diag(W, H, 1)`` (z has density ~ z^2 on [near, far]); scrambled Sobol, fixed seed."""
    from scipy.stats import qmc

    s = qmc.Sobol(d=3, scramble=True, seed=0).random(n)
    z = np.cbrt(near**3 + s[:, 2] * (far**3 - near**3))
    return np.stack([s[:, 0] * z, s[:, 1] * z, z, np.ones(n)])


def _cam_from_canonical(cams: Cameras) -> np.ndarray:
    """(N, 4, 4) world_from_cam @ [[K^-1 diag(W, H, 1), 0], [0, 1]]: canonical samples -> world."""
    m = np.zeros((len(cams), 4, 4))
    m[:, :3, :3] = np.linalg.inv(cams.K) @ np.diag([cams.width, cams.height, 1.0])
    m[:, 3, 3] = 1.0
    return cams.world_from_cam @ m


def _share_inside(src: Cameras, dst: Cameras, pairs: np.ndarray, near: float, far: float, n: int) -> np.ndarray:
    """Share of ``src[i]``'s volume samples that fall inside ``dst[j]``'s frustum, per pair (i, j)."""
    q = torch.from_numpy(_canonical_samples(n, near, far)).float()
    # rows give (2u/W - 1) z, (2v/H - 1) z, z and the depth rescaled to [-1, 1] over [near, far], so
    # "inside" is |row0| <= z, |row1| <= z, |row3| <= 1: fewer tensor passes than six bounds
    A = np.array([[2.0 / dst.width, 0, -1, 0], [0, 2.0 / dst.height, -1, 0], [0, 0, 1, 0],
                  [0, 0, 2.0 / (far - near), -(far + near) / (far - near)]])
    P = np.zeros((len(dst), 4, 4))
    P[:, :3] = dst.K @ dst.cam_from_world[:, :3, :]
    P[:, 3, 3] = 1.0
    G = torch.from_numpy(A @ P[pairs[:, 1]] @ _cam_from_canonical(src)[pairs[:, 0]]).float()
    out = np.empty(len(pairs))
    step = max(1, (1 << 22) // n)
    for s in range(0, len(pairs), step):
        x = G[s : s + step] @ q  # (p, 4, n)
        z = x[:, 2]
        inside = (x[:, 0].abs() <= z) & (x[:, 1].abs() <= z) & (x[:, 3].abs() <= 1)
        out[s : s + step] = inside.sum(1).numpy() / n
    return out


def frustum_overlap(
    cam_a: Cameras, cam_b: Cameras, near: float, far: float, n_samples: int = DEFAULT_SAMPLES
) -> np.ndarray:
    """(M, T) volumetric IoU of the truncated frustums ``[near, far]`` of ``cam_a[m]`` and ``cam_b[t]``.

    Estimated with a fixed quasi-Monte-Carlo sample set: ``n_samples`` points uniform in each
    frustum (scrambled Sobol, seed 0) are tested against the other; the intersection volume is the
    mean of the two one-sided estimates, so the score is exactly symmetric, exactly 1 for identical
    cameras and exactly 0 for frustums whose bounding spheres do not meet. Stated error: against a
    200^3 brute-force voxel count on the five camera pairs of ``tests/test_geometry_frustum.py``
    the absolute IoU error was at most 0.003 with the default 2048 samples and 0.006 with 256.
    """
    _check_range(near, far, "frustum_overlap")
    if n_samples < 16:
        raise ValueError(f"frustum_overlap: n_samples must be >= 16, got {n_samples}")
    ca, cb = frustum_corners(cam_a, near, far), frustum_corners(cam_b, near, far)
    centre_a, centre_b = ca.mean(1), cb.mean(1)
    rad_a = np.linalg.norm(ca - centre_a[:, None], axis=-1).max(1)
    rad_b = np.linalg.norm(cb - centre_b[:, None], axis=-1).max(1)
    gap = np.linalg.norm(centre_a[:, None] - centre_b[None], axis=-1)
    pairs = np.argwhere(gap < rad_a[:, None] + rad_b[None])
    iou = np.zeros((len(cam_a), len(cam_b)))
    if len(pairs) == 0:
        return iou
    vol_a, vol_b = frustum_volume(cam_a, near, far), frustum_volume(cam_b, near, far)
    va, vb = vol_a[pairs[:, 0]], vol_b[pairs[:, 1]]
    a_in_b = _share_inside(cam_a, cam_b, pairs, near, far, n_samples) * va
    b_in_a = _share_inside(cam_b, cam_a, pairs[:, ::-1], near, far, n_samples) * vb
    inter = np.minimum(0.5 * (a_in_b + b_in_a), np.minimum(va, vb))
    iou[pairs[:, 0], pairs[:, 1]] = inter / (va + vb - inter)
    return iou
