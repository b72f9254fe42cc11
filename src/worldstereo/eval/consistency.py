"""Cross-trajectory consistency: do frames of different trajectories agree where they see the same surface?

For a pair of frames (A, B) with depth and cameras, every valid pixel of A is unprojected with A's
depth and projected into B. Where it lands inside B, in front of B's camera and not behind B's own
surface (occlusion test on B's depth), the pixel is *visible*; there

- the **reprojection error** is the forward-backward error of multi-view stereo's geometric check:
  B's depth at the landing point is unprojected through B and projected back into A; the distance
  in pixels to the pixel it started from is 0 when depths and cameras agree;
- the **photometric agreement** compares A's colour with B's colour sampled (bilinear) at the
  landing point: mean absolute error and PSNR over the visible pixels.

Frames of a run carry the depth the run merged into its Cache3D (``depth.npz``), so the figures say
how well the generated videos and the 3D memory agree with each other across trajectories. Frame 0
of every trajectory is the input view itself and is left out of cross-trajectory pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..camera import Cameras
from ..geometry import frustum_overlap
from ..geometry.sampling import bilinear_sample_clamped

OCCLUSION_TOL = 0.05  # relative depth margin before a point counts as hidden behind B's surface


def _pixels(h: int, w: int) -> np.ndarray:
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    return np.stack([jj, ii], -1).reshape(-1, 2)


def _unproject(uv: np.ndarray, z: np.ndarray, cam: Cameras) -> np.ndarray:
    """(P, 3) world points of pixels ``uv`` (P, 2) at z-depths (P,) in the one camera ``cam``."""
    return cam.unproject(uv, z[None])[0]


def _project(X: np.ndarray, cam: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (P, 2) and z-depths (P,) of world points (P, 3) in the one camera ``cam`` (callers keep z > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        uv, z = cam.project(X)
    return uv[0], z[0]


@dataclass(frozen=True)
class PairConsistency:
    """Agreement of frame A with frame B over A's pixels visible in B."""

    visible_share: float  # share of A's valid pixels that are visible in B
    n_visible: int
    reprojection_error_px: float  # mean forward-backward error
    reprojection_median_px: float
    consistent_share: float  # share of visible pixels with error < 1 px
    photometric_l1: float  # mean |colour A - colour B| in [0, 1] units
    photometric_psnr: float

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def pair_consistency(image_a: np.ndarray, depth_a: np.ndarray, cam_a: Cameras, image_b: np.ndarray,
                     depth_b: np.ndarray, cam_b: Cameras, occlusion_tol: float = OCCLUSION_TOL) -> PairConsistency:
    """Consistency of frame A with frame B.

    Args:
        image_a, image_b: (H, W, 3) float in [0, 1] (sizes may differ).
        depth_a, depth_b: (H, W) z-depth, 0 = invalid.
        cam_a, cam_b: one camera each, at the size of its image.
        occlusion_tol: A's point is hidden in B when it lies farther than B's depth x (1 + tol).
    """
    for name, img, d, cam in (("a", image_a, depth_a, cam_a), ("b", image_b, depth_b, cam_b)):
        if len(cam) != 1 or np.shape(img)[:2] != (cam.height, cam.width) or np.shape(d) != (cam.height, cam.width):
            raise ValueError(f"pair_consistency: frame {name} needs one camera and image/depth of its size "
                             f"({cam.height}, {cam.width}), got {np.shape(img)} and {np.shape(d)}")
    da = np.asarray(depth_a, np.float64).reshape(-1)
    valid = np.isfinite(da) & (da > 0)
    uv_a = _pixels(cam_a.height, cam_a.width)[valid]
    X = _unproject(uv_a, da[valid], cam_a)
    uv_b, z_b = _project(X, cam_b)
    inside = (z_b > 1e-9) & (uv_b[:, 0] >= 0) & (uv_b[:, 0] < cam_b.width) & (uv_b[:, 1] >= 0) & (uv_b[:, 1] < cam_b.height)
    db = np.asarray(depth_b, np.float64)
    jb = np.clip(uv_b[:, 0].astype(int), 0, cam_b.width - 1)
    ib = np.clip(uv_b[:, 1].astype(int), 0, cam_b.height - 1)
    d_at = db[ib, jb]
    vis = inside & (d_at > 0) & (z_b <= d_at * (1 + occlusion_tol))
    n = int(vis.sum())
    if n == 0:
        nan = float("nan")
        return PairConsistency(0.0, 0, nan, nan, nan, nan, nan)
    # back: B's surface at the landing point (depth of the pixel it falls in) into A
    back, _ = _project(_unproject(uv_b[vis], d_at[vis], cam_b), cam_a)
    err = np.linalg.norm(back - uv_a[vis], axis=1)
    col_a = np.asarray(image_a, np.float64).reshape(-1, 3)[valid][vis]
    col_b = bilinear_sample_clamped(np.asarray(image_b, np.float64), uv_b[vis])
    diff = col_a - col_b
    mse = float(np.mean(diff ** 2))
    return PairConsistency(
        visible_share=float(n / max(int(valid.sum()), 1)), n_visible=n,
        reprojection_error_px=float(err.mean()), reprojection_median_px=float(np.median(err)),
        consistent_share=float(np.mean(err < 1.0)), photometric_l1=float(np.abs(diff).mean()),
        photometric_psnr=float("inf") if mse == 0 else float(-10 * np.log10(mse)),
    )


@dataclass(frozen=True)
class TrajectoryView:
    """One trajectory's frames (N, H, W, 3), depth (N, H, W) and cameras, for cross-trajectory scores."""

    name: str
    frames: np.ndarray
    depth: np.ndarray
    cameras: Cameras


def matching_frames(later: Cameras, earlier: Cameras, scene_depth: float, min_overlap: float = 0.3,
                    skip_first: bool = True) -> list[tuple[int, int, float]]:
    """For each frame of ``later``, the frame of ``earlier`` whose frustum (near 0.1, far 2 x scene
    depth) overlaps it most, as (later index, earlier index, IoU) where the IoU >= ``min_overlap``.
    ``skip_first`` leaves out frame 0 of both (the shared input view)."""
    start = 1 if skip_first else 0
    if len(later) <= start or len(earlier) <= start:
        return []
    iou = frustum_overlap(later[start:], earlier[start:], 0.1 * scene_depth, 2.0 * scene_depth, n_samples=256)
    best = iou.argmax(1)
    return [(i + start, int(best[i]) + start, float(iou[i, best[i]])) for i in range(len(iou))
            if iou[i, best[i]] >= min_overlap]


def cross_trajectory_consistency(trajectories: Sequence[TrajectoryView], scene_depth: float,
                                 min_overlap: float = 0.3, frames: Optional[dict[str, Sequence[int]]] = None) -> dict:
    """Consistency between every later trajectory's frames and the best-overlapping frame of each
    earlier trajectory (both directions of each pair are scored and averaged, weighted by pixels).

    ``frames`` optionally restricts the later trajectory's frames per name (e.g. revisited views).
    Returns the pooled figures plus ``pairs`` (frame pairs scored) and ``per_pair`` details.
    """
    rows = []
    for j, later in enumerate(trajectories):
        for earlier in trajectories[:j]:
            for i_l, i_e, iou in matching_frames(later.cameras, earlier.cameras, scene_depth, min_overlap):
                if frames is not None and i_l not in set(frames.get(later.name, ())):
                    continue
                for a, b in ((later, earlier), (earlier, later)):
                    ia, ib = (i_l, i_e) if a is later else (i_e, i_l)
                    pc = pair_consistency(a.frames[ia], a.depth[ia], a.cameras[ia], b.frames[ib], b.depth[ib], b.cameras[ib])
                    if pc.n_visible:
                        rows.append({"a": f"{a.name}:{ia}", "b": f"{b.name}:{ib}", "iou": iou, **pc.as_dict()})
    return summarise_pairs(rows)


def summarise_pairs(rows: list[dict]) -> dict:
    """Pixel-weighted means of the per-pair figures (PSNR from the pooled squared error)."""
    if not rows:
        return {"pairs": 0, "reprojection_error_px": None, "consistent_share": None, "photometric_l1": None,
                "photometric_psnr": None, "per_pair": []}
    w = np.array([r["n_visible"] for r in rows], np.float64)
    w = w / w.sum()
    mse = np.array([10 ** (-r["photometric_psnr"] / 10) if np.isfinite(r["photometric_psnr"]) else 0.0 for r in rows])
    pooled = float(w @ mse)
    return {
        "pairs": len(rows),
        "reprojection_error_px": float(w @ [r["reprojection_error_px"] for r in rows]),
        "consistent_share": float(w @ [r["consistent_share"] for r in rows]),
        "photometric_l1": float(w @ [r["photometric_l1"] for r in rows]),
        "photometric_psnr": float("inf") if pooled == 0 else float(-10 * np.log10(pooled)),
        "per_pair": rows,
    }
