"""The released WorldStereo 2.0 input conventions, and only here (the project's own conventions, DESIGN §5,
hold everywhere else). Every function takes this project's plain data (OpenCV ``cam_from_world``, K in pixels,
images in [0, 1], hole mask 1 = hole) and returns what the released weights were trained on:

- keyframes: ``nframe`` (21) frames per video, each its own latent frame; a camera list of another length is
  resampled by the scene planner (81 -> 21 picks frames 0, 4, ..., 80, as the release does);
- renders in [-1, 1] with holes mid-grey (0), frame 0 replaced by the input image, mask frame 0 = 0;
- Plücker rays ``[d, o × d]`` at every pixel on the released grid: pixel (row i, col j) at
  (u, v) = (j - 0.5, i + 0.5) (the project's grid is (j + 0.5, i + 0.5)), cameras normalised first;
- the camera MLP's 7 values: w-first unit quaternion (w >= 0) of the w2c rotation + the w2c translation,
  after one normalisation shared by targets and references;
- references: one per distinct retrieved bank frame (at most 8), ``ref_index`` = the 0-based index i-1 of
  the first target keyframe i that retrieved it; with no retrieval, the input image at ref_index 0.

Camera normalisation (both encodings): right-multiply every w2c by the first target's c2w; take the camera
centres; among the targets, those within 10 × the 0.97 quantile of their distance to the per-axis (lower)
median are inliers; subtract the inliers' mean centre from every centre; scale all centres by 2 / |c_0|
(or by 2 when |c_0| < 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

MAX_REFERENCES = 8


def normalise_cameras(w2c: np.ndarray, n_targets: int, scale: float = 2.0) -> np.ndarray:
    """``w2c (N, 4, 4)`` (targets first) -> normalised ``(N, 4, 4)`` float64."""
    w2c = np.asarray(w2c, np.float64) @ np.linalg.inv(np.asarray(w2c[0], np.float64))
    c2w = np.linalg.inv(w2c)
    centres = c2w[:, :3, 3].copy()
    targets = centres[:n_targets]
    median = np.sort(targets, axis=0)[(n_targets - 1) // 2]  # torch's median is the lower middle
    dist = np.linalg.norm(targets - median, axis=-1)
    inlier = dist <= min(np.quantile(dist, 0.97) * 10.0, 1e6)
    centres -= targets[inlier].mean(axis=0)
    n0 = np.linalg.norm(centres[0])
    centres *= scale if n0 <= 1e-5 else scale / n0
    rot = w2c[:, :3, :3]
    out = np.tile(np.eye(4), (len(w2c), 1, 1))
    out[:, :3, :3] = rot
    out[:, :3, 3] = -np.einsum("nij,nj->ni", rot, centres)
    return out


def plucker_released(K: np.ndarray, w2c: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(6, N, H, W)`` float32 Plücker map of ``N`` target cameras (K in pixels of H × W)."""
    w2c = normalise_cameras(w2c, len(w2c))
    c2w = np.linalg.inv(w2c)
    u = np.arange(width, dtype=np.float64) - 0.5
    v = np.arange(height, dtype=np.float64) + 0.5
    uu, vv = np.meshgrid(u, v)  # (H, W)
    pix = np.stack([uu, vv, np.ones_like(uu)], axis=-1)  # (H, W, 3)
    d_cam = np.einsum("nij,hwj->nhwi", np.linalg.inv(np.asarray(K, np.float64)), pix)
    d = np.einsum("nij,nhwj->nhwi", c2w[:, :3, :3], d_cam)
    d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    o = np.broadcast_to(c2w[:, None, None, :3, 3], d.shape)
    out = np.concatenate([d, np.cross(o, d)], axis=-1).transpose(3, 0, 1, 2).astype(np.float32)
    return out if np.isfinite(out).all() else np.zeros_like(out)


def camera_qt(w2c_targets: np.ndarray, w2c_refs: np.ndarray) -> tuple:
    """(targets ``(N, 7)``, references ``(R, 7)``) float32: [q_w, q_x, q_y, q_z, t_x, t_y, t_z]."""
    both = normalise_cameras(np.concatenate([w2c_targets, w2c_refs]), len(w2c_targets))
    xyzw = Rotation.from_matrix(both[:, :3, :3]).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)
    q = np.where(q[:, :1] < 0, -q, q)
    qt = np.concatenate([q, both[:, :3, 3]], axis=1).astype(np.float32)
    return qt[:len(w2c_targets)], qt[len(w2c_targets):]


def render_inputs(image: np.ndarray, renders: np.ndarray, masks: np.ndarray) -> tuple:
    """(video ``(3, N, H, W)`` in [-1, 1], mask ``(1, N, H, W)`` with 1 = hole), released frame-0 rule."""
    hole = (np.asarray(masks) > 0.5).astype(np.float32)
    video = np.where(hole[..., None] > 0, 0.0, np.asarray(renders, np.float32) * 2.0 - 1.0)
    video[0] = np.asarray(image, np.float32) * 2.0 - 1.0
    hole[0] = 0.0
    return np.clip(video, -1, 1).transpose(3, 0, 1, 2).astype(np.float32), hole[None]


@dataclass
class ReferencePick:
    """The memory input of one video: reference frames ``(R, H, W, 3)`` in [0, 1], their w2c, ref_index."""

    images: np.ndarray
    cam_from_world: np.ndarray
    ref_index: np.ndarray


def pick_references(image: np.ndarray, target_w2c: np.ndarray, refs) -> ReferencePick:
    """From the project's retrieval (``References``, may be None or empty) to the released layout."""
    if refs is None or len(refs) == 0:
        return ReferencePick(np.asarray(image, np.float32)[None], np.asarray(target_w2c[:1], np.float64),
                             np.zeros(1, np.int64))
    bank = np.asarray(refs.bank_indices) if len(refs.bank_indices) == len(refs) else np.arange(len(refs))
    seen, rows = set(), []
    for j in np.argsort(np.asarray(refs.target_indices), kind="stable"):
        if bank[j] in seen:
            continue
        seen.add(bank[j])
        rows.append(j)
        if len(rows) == MAX_REFERENCES:
            break
    # target keyframe 0 is the input image: a reference retrieved there is placed at the first slot
    index = np.array([max(int(refs.target_indices[j]) - 1, 0) for j in rows], np.int64)
    return ReferencePick(np.asarray(refs.images, np.float32)[rows],
                         np.asarray(refs.cameras.cam_from_world, np.float64)[rows], index)
