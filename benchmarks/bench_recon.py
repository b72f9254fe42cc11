"""Reconstruction quality and runtime per method on the ray-cast room scene with ground truth.

The scene (tests/recon_scenes.py) is rendered along the four trajectories of the default plan
(orbit, up 45, right 90, left 90), 11 frames each at 128 x 96. For each method the geometry is
reconstructed (texture baking timed separately, once, on the MVS scene) and the mesh surface is
compared with the ground truth (surface seen by >= 3 frames): Tanks-and-Temples precision, recall
and F1 at tau = 1 % of the ground truth's bounding-box diagonal, both clouds voxel-downsampled at
tau / 2. Prints one JSON line; ``runtime_ratio_vs_mvs`` is measured in the same run.

    PYTHONPATH=src python benchmarks/bench_recon.py [--frames 11] [--width 128] [--neural-iterations 400]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from recon_scenes import f1_score, make_scene  # noqa: E402

from worldstereo.reconstruction import ReconstructionConfig, optimize_textures, reconstruct_scene  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=11)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--neural-iterations", type=int, default=400)
    ap.add_argument("--methods", default="mvs,neural,hybrid")
    ap.add_argument("--config", type=json.loads, default={}, help="other ReconstructionConfig fields as JSON")
    args = ap.parse_args()
    torch.set_num_threads(1)
    o3d.utility.random.seed(0)
    warnings.simplefilter("ignore")
    scene = make_scene(args.width, args.width * 3 // 4, args.frames)
    tau = 0.01 * scene.diagonal
    n = args.frames
    videos = [scene.frames[i * n:(i + 1) * n] for i in range(4)]
    out = {"bench": "recon", "image_size": [args.width, args.width * 3 // 4], "frames_per_trajectory": n,
           "tau": round(tau, 4), "gt_points": int(len(scene.gt_points)), "threads": 1, "methods": {}}
    mvs_scene = None
    for method in args.methods.split(","):
        cfg = ReconstructionConfig(method=method, resolution=args.width, bake_textures=False,
                                   neural_iterations=args.neural_iterations, **args.config)
        t = time.perf_counter()
        rec = reconstruct_scene(videos, scene.trajectories, None, config=cfg)
        runtime = time.perf_counter() - t
        samples = np.asarray(rec.mesh.to_open3d().sample_points_uniformly(300000).points)
        f = f1_score(samples, scene.gt_points, tau)
        out["methods"][method] = {
            **{k: round(v, 4) for k, v in f.items()},
            "runtime_s": round(runtime, 2),
            "quality_metrics": {k: round(v, 4) for k, v in rec.metadata["quality_metrics"].items()},
            "vertices": int(len(rec.mesh.vertices)),
        }
        if method == "mvs":
            mvs_scene = rec
    if "mvs" in out["methods"]:
        base = out["methods"]["mvs"]["runtime_s"]
        for m in out["methods"].values():
            m["runtime_ratio_vs_mvs"] = round(m["runtime_s"] / base, 2)
            m["f1_minus_mvs"] = round(m["f1"] - out["methods"]["mvs"]["f1"], 4)
    if mvs_scene is not None:
        t = time.perf_counter()
        textured = optimize_textures(mvs_scene, texture_resolution=1024)
        out["texture_bake_s"] = round(time.perf_counter() - t, 2)
        out["texture_atlas_faces"] = int(len(textured.mesh.faces))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
