"""The paper's default plan vs ``--plan auto`` on synthetic scenes with ground truth (issue 17).

For each scene kind and seed, a perspective sample is rendered, then both plans run with the same
generator, the same number of trajectories (auto: budget = 4, no gain threshold, so it stops early
only when no candidate is admissible) and the same frames. Figures per plan:

- ``free``: share of all cameras in the scene's true free space (``Scene.is_free``, 5 cm margin);
- ``coverage``: share of true surface samples (by area, backdrops left out) seen by some generated
  frame whose camera is in true free space (a frame filmed from inside a wall shows nothing real);
- ``f1`` / ``completeness`` / ``precision``: the final Cache3D (what the memories reconstructed)
  against the whole true surface at tau = 2 % of its bounding-box diagonal, and ``f1_mvs`` etc.
  for ``reconstruct_scene(method="mvs")`` of the run when ``--mvs`` (0 when it finds no depth that a second
  view confirms, e.g. a plan of pans only: no parallax, nothing to triangulate).

Prints one JSON line: per kind the means of both plans and the auto - default differences, and the
units. Usage (docs/planning.md's table):
  python benchmarks/bench_planner.py --kinds room outdoor object --seeds 3 --max-side 64 --frames 9
``--generator tiny`` runs the bundled model instead of ``warp``; ``--panorama`` starts from
equirectangular samples rendered at the same scene's camera centre.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from worldstereo.camera import Cameras
from worldstereo.data.samples import SampleSpec, render_sample, write_sample
from worldstereo.eval import SyntheticGroundTruth
from worldstereo.eval.pointcloud_metrics import f_score
from worldstereo.pipelines.api import WorldStereo
from worldstereo.pipelines.planner import PlanConfig

SURFACE_SAMPLES = 6000
TAU = 0.02


def visible(points: np.ndarray, cameras: Cameras, depth: np.ndarray, tol: float = 0.03) -> np.ndarray:
    """(P,) whether each world point (P, 3) is seen by some camera: in the image, in front, and at
    the true depth of its pixel within ``tol`` relative (not hidden)."""
    seen = np.zeros(len(points), bool)
    for i in range(len(cameras)):
        T, K = cameras.cam_from_world[i], cameras.K[i]
        x = points @ T[:3, :3].T + T[:3, 3]
        z = x[:, 2]
        front = z > 1e-6
        u = K[0, 0] * x[:, 0] / np.where(front, z, 1) + K[0, 2]
        v = K[1, 1] * x[:, 1] / np.where(front, z, 1) + K[1, 2]
        h, w = depth.shape[1:]
        ok = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        d = np.zeros(len(points))
        d[ok] = depth[i, v[ok].astype(int), u[ok].astype(int)]
        seen |= ok & (d > 0) & (np.abs(d - z) <= tol * z)
    return seen


def unit(kind: str, seed: int, plan: str, side: int, frames: int, root: Path, mvs: bool,
         generator: str = "warp", panorama: bool = False, plan_config: Optional[dict] = None) -> dict:
    if panorama:  # an equirectangular sample from the scene's camera centre (the 27-view bank seeds free space)
        spec = SampleSpec(kind, seed, seed, 4 * side, 2 * side, projection="equirectangular")
    else:
        spec = SampleSpec(kind, seed, seed, 2 * side, round(2 * side * 9 / 16), fov_deg=65.0)
    folder = root / f"{kind}{seed}" / "sample"
    if not (folder / "meta.json").is_file():
        write_sample(render_sample(spec, f"{kind}{seed}"), folder)
    truth = SyntheticGroundTruth.from_meta(json.loads((folder / "meta.json").read_text()))
    ws = WorldStereo.from_pretrained("warp" if generator == "warp" else "worldstereo-tiny", max_side=side)
    t0 = time.perf_counter()
    run = ws.generate_scene(str(folder), output_dir=root / f"{kind}{seed}" / plan, resume=False, n_frames=frames,
                            plan=plan, plan_config=PlanConfig(**{"budget": 4, "min_gain": 0.0, **(plan_config or {})}) if plan == "auto" else None)
    seconds = time.perf_counter() - t0
    cams = Cameras.concat([run.state.observers[0]] + [t.cameras for t in run.trajectories]) if run.trajectories \
        else run.state.observers[0]
    free = truth.in_free_space(cams)
    surf = truth.scene.sample_surface(SURFACE_SAMPLES, seed=seed).points
    R, t = truth.ours_from_scene[:3, :3], truth.ours_from_scene[:3, 3]
    surf = surf @ R.T + t  # into the run's world frame
    _, depth = truth.render(cams[np.flatnonzero(free)]) if free.any() else (None, np.zeros((0, 1, 1)))
    coverage = float(visible(surf, cams[np.flatnonzero(free)], depth).mean()) if free.any() else 0.0
    diag = float(np.linalg.norm(surf.max(0) - surf.min(0)))
    s = f_score(run.state.cache.points.xyz, surf, TAU * diag)
    row = {"trajectories": [t.name for t in run.trajectories], "cameras": int(len(cams)),
           "free": float(free.mean()), "coverage": coverage, "f1": s.f1, "completeness": s.recall,
           "precision": s.precision, "seconds": round(seconds, 1)}
    if mvs and run.trajectories:
        from worldstereo.reconstruction import ReconstructionConfig, reconstruct_scene

        try:
            rec = reconstruct_scene(run.root, None, None, config=ReconstructionConfig(
                method="mvs", resolution=2 * side, bake_textures=False))
            m = f_score(rec.point_cloud.points, surf, TAU * diag)
            row.update(f1_mvs=m.f1, completeness_mvs=m.recall, precision_mvs=m.precision)
        except ValueError as exc:  # no depth a second view confirms (e.g. only pans): nothing reconstructed
            row.update(f1_mvs=0.0, completeness_mvs=0.0, precision_mvs=0.0, mvs_error=str(exc).splitlines()[0])
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", nargs="+", default=["room", "outdoor", "object"])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per kind")
    ap.add_argument("--max-side", type=int, default=64)
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--mvs", action="store_true", help="also reconstruct each run with mvs and score it")
    ap.add_argument("--generator", choices=("warp", "tiny"), default="warp",
                    help="warp (no learning) or the bundled worldstereo-tiny (DMD, both memories)")
    ap.add_argument("--panorama", action="store_true", help="equirectangular inputs (4*side x 2*side) instead of photos")
    ap.add_argument("--plan-config", type=json.loads, default={}, help='PlanConfig fields for auto as JSON, e.g. \'{"parallax_deg": 0}\'')
    args = ap.parse_args()
    torch.set_num_threads(1)
    units, summary = {}, {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            for seed in range(args.seeds):
                for plan in ("default", "auto"):
                    units[f"{kind}/{seed}/{plan}"] = unit(kind, seed, plan, args.max_side, args.frames, Path(tmp), args.mvs,
                                                             args.generator, args.panorama, args.plan_config)
    keys = ("free", "coverage", "f1", "completeness", "precision", "f1_mvs", "completeness_mvs")
    for kind in args.kinds:
        summary[kind] = {}
        for plan in ("default", "auto"):
            rows = [u for k, u in units.items() if k.startswith(f"{kind}/") and k.endswith(f"/{plan}")]
            summary[kind][plan] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys
                                   if rows and all(k in r for r in rows)}
            summary[kind][plan]["trajectories"] = float(np.mean([len(r["trajectories"]) for r in rows]))
        d, a = summary[kind]["default"], summary[kind]["auto"]
        summary[kind]["auto_minus_default"] = {k: round(a[k] - d[k], 4) for k in keys if k in a and k in d}
    print(json.dumps({"bench": "planner", "settings": vars(args), "seconds": round(time.perf_counter() - t0, 1),
                      "summary": summary, "units": units}))


if __name__ == "__main__":
    main()
