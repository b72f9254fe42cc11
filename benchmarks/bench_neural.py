"""Neural surface fit: iterations per second and surface quality, before (main's field, kept verbatim in
``benchmarks/neural_baseline.py``) and after (``worldstereo.reconstruction.neural``), in one run.

Both fit the ray-cast room of tests/recon_scenes.py (the first trajectory, orbit, ``--frames`` frames at
``--width`` px) from the same MVS depth through ``reconstruct_scene(method="neural")`` with the same
``ReconstructionConfig`` except the field; the surface is compared with the ground truth as in
``bench_recon.py`` (precision / recall / F1 at tau = 1 % of the diagonal, both halves of the Chamfer distance in scene
units), the truth being the room's surface seen by >= 3 of these frames.
Iterations per second are timed between the first and the last progress report of the fit (no meshing),
in CPU seconds of this process (``time.process_time``, one thread), so that other load on the core does
not change them; the wall-clock seconds are reported too.

    PYTHONPATH=src python benchmarks/bench_neural.py [--iterations 400] [--batch 512] [--width 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import open3d as o3d
import torch
from scipy.spatial import cKDTree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import neural_baseline  # noqa: E402
from recon_scenes import MIN_GT_VIEWS, f1_score, make_scene, visibility_count  # noqa: E402

import worldstereo.reconstruction.neural as neural  # noqa: E402
from worldstereo.reconstruction import ReconstructionConfig, reconstruct_scene  # noqa: E402


def _run(fit, video, traj, cfg):
    """(scene, iterations per CPU second of the fit, fit+mesh CPU seconds, reconstruct wall seconds)."""
    stamps: list[tuple[int, float]] = []
    spans: list[float] = []

    def wrapped(frames, cams, depth, voxel, c, progress=None, seed=0):
        t = time.process_time()
        mesh = fit(frames, cams, depth, voxel, c, progress=lambda d, n: stamps.append((d, time.process_time())), seed=seed)
        spans.append(time.process_time() - t)
        return mesh

    original = neural.fit_neural_surface
    neural.fit_neural_surface = wrapped
    try:
        torch.manual_seed(0)
        o3d.utility.random.seed(0)
        t = time.perf_counter()
        scene = reconstruct_scene([video], [traj], None, config=cfg)
        total = time.perf_counter() - t
    finally:
        neural.fit_neural_surface = original
    (d0, t0), (d1, t1) = stamps[0], stamps[-1]  # a converged fit reports (total, total) last: drop it
    if len(stamps) > 2 and d1 - stamps[-2][0] > 20:
        (d1, t1) = stamps[-2]
    return scene, (d1 - d0) / max(t1 - t0, 1e-9), spans[0], total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=11)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--which", default="before,after")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    scene = make_scene(args.width, args.width * 3 // 4, args.frames)
    n = args.frames
    video, traj = scene.frames[:n], scene.trajectories[0]
    # ground truth: the part of the room's surface the orbit's frames see (>= 3 views), as in bench_recon
    gt = scene.gt_points[visibility_count(scene.gt_points, scene.cameras[:n], scene.depth[:n]) >= MIN_GT_VIEWS]
    tau = 0.01 * scene.diagonal
    cfg = ReconstructionConfig(method="neural", resolution=args.width, bake_textures=False,
                               neural_iterations=args.iterations, neural_batch_size=args.batch)
    out = {"bench": "neural", "image_size": [args.width, args.width * 3 // 4], "frames": n, "threads": 1,
           "iterations": args.iterations, "batch_rays": args.batch, "tau": round(tau, 4), "runs": {}}
    fits = {"before": neural_baseline.fit_neural_surface, "after": neural.fit_neural_surface}
    for name in args.which.split(","):
        rec, its, fit_s, total = _run(fits[name], video, traj, cfg)
        pts = np.asarray(rec.mesh.to_open3d().sample_points_uniformly(200000).points)
        f = f1_score(pts, gt, tau)
        d_pred = cKDTree(gt).query(pts)[0]  # Chamfer halves, mean distances in scene units
        d_gt = cKDTree(pts).query(gt)[0]
        out["runs"][name] = {
            "iterations_per_s": round(its, 2), "fit_and_mesh_cpu_s": round(fit_s, 1), "reconstruct_wall_s": round(total, 1),
            **{k: round(v, 4) for k, v in f.items()},
            "chamfer_pred_to_gt": round(float(d_pred.mean()), 4),
            "chamfer_gt_to_pred": round(float(d_gt.mean()), 4),
            "quality_metrics": {k: round(v, 4) for k, v in rec.metadata["quality_metrics"].items()},
            "vertices": int(len(rec.mesh.vertices)),
        }
    if "before" in out["runs"] and "after" in out["runs"]:
        out["speedup_iterations_per_s"] = round(out["runs"]["after"]["iterations_per_s"] / out["runs"]["before"]["iterations_per_s"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
