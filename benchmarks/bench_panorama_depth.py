"""Panorama depth from per-view predictions: error and seams before / after the overlap alignment.

A synthetic room panorama with ground truth; a stand-in depth model returns each of the 27 views'
true z-depth under a random per-view scale (metric) or the true inverse depth under a random
scale and shift (relative), plus multiplicative noise. Prints one JSON line per mode.

    PYTHONPATH=src python benchmarks/bench_panorama_depth.py [--height 128] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from worldstereo.camera import Cameras
from worldstereo.data.synthetic import make_scene, render, render_panorama
from worldstereo.geometry.panorama_depth import fuse_panorama_depth, seam_pairs
from worldstereo.pipelines.panorama_depth import depth_views


def scene_and_views(height: int, seed: int, view_w: int, view_h: int):
    scene = make_scene(seed, "room")
    center = scene.eye_region.mean(0)
    gt = render_panorama(scene, center, height).distance.astype(np.float64)
    views = depth_views(view_w, view_h)
    # the same views placed at the panorama centre in the scene's frame
    m = views.cam_from_world.copy()
    m[:, :3, 3] = -np.einsum("nij,j->ni", m[:, :3, :3], center)
    true_z = render(scene, Cameras(views.K, m, view_w, view_h)).depth.astype(np.float64)
    return gt, views, true_z


def stand_in(true_z: np.ndarray, kind: str, noise: float, rng: np.random.Generator) -> np.ndarray:
    """What a depth model with per-view drift would say: (N, H, W)."""
    n = len(true_z)
    eps = np.exp(rng.normal(0.0, noise, true_z.shape))
    if kind == "depth":
        return true_z * np.exp(rng.normal(0.0, 0.3, n))[:, None, None] * eps
    inv = np.where(true_z > 0, 1.0 / np.maximum(true_z, 1e-9), 0.0) * eps
    a = np.exp(rng.normal(0.0, 0.3, n))[:, None, None]
    b = rng.uniform(0.0, 0.2, n)[:, None, None] * np.median(inv[inv > 0])
    return np.where(true_z > 0, a * inv + b, 0.0)


def figures(fused: np.ndarray, gt: np.ndarray, p: np.ndarray, q: np.ndarray, relative: bool) -> dict:
    ok = (fused > 0) & (gt > 0)
    f = fused.astype(np.float64)
    # judged up to one global scale: a relative map has none, a metric one keeps view 0's (drifted) scale
    f = f * np.median(gt[ok] / f[ok])
    rel = np.abs(f[ok] - gt[ok]) / gt[ok]
    ff, gg = f.ravel(), gt.ravel()
    sel = (ff[p] > 0) & (ff[q] > 0) & (gg[p] > 0) & (gg[q] > 0)
    jump = np.abs(np.log(ff[p][sel] / ff[q][sel]) - np.log(gg[p][sel] / gg[q][sel]))
    return {"median_rel_error": float(np.median(rel)), "seam_error": float(np.median(jump)),
            "seam_error_p90": float(np.percentile(jump, 90)), "coverage": float(ok.mean())}


def run(height: int = 128, seed: int = 0, noise: float = 0.02, view_w: int = 104, view_h: int = 60) -> list[dict]:
    gt, views, true_z = scene_and_views(height, seed, view_w, view_h)
    p, q = seam_pairs(views, height, 2 * height)
    rows = []
    for kind in ("depth", "disparity"):
        pred = stand_in(true_z, kind, noise, np.random.default_rng(seed + 1))
        row = {"bench": "panorama_depth", "mode": "metric-scale" if kind == "depth" else "relative-scale-shift",
               "views": len(views), "view_size": [view_w, view_h], "pano_size": [2 * height, height],
               "noise_log_std": noise, "seed": seed}
        for name, align in (("before", False), ("after", True)):
            fused = fuse_panorama_depth(pred, views, height, 2 * height, kind, align)
            row[name] = figures(fused, gt, p, q, kind == "disparity")
            hard = fuse_panorama_depth(pred, views, height, 2 * height, kind, align, feather=False)
            row[name]["seam_error_hard_stitch"] = figures(hard, gt, p, q, kind == "disparity")["seam_error"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.02)
    args = ap.parse_args()
    for row in run(args.height, args.seed, args.noise):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
