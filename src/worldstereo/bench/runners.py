"""``bench camera`` and ``bench recon``: generate on synthetic scenes, then score against their truth.

camera (paper §4.2): per scene, one video per motion type from the image alone (no memory), cameras
recovered from the frames (pycolmap by default, K known), RotErr / TransErr / ATE, and PSNR / SSIM
against the true frames.

recon (paper §4.3): per scene, the default plan (orbit, up, right, left) per memory setting, the
run reconstructed (MVS), aligned to the ground-truth cloud (first camera, then ICP with scale), and
F1 at tau / AUC of F over (0, tau_max] with tau, tau_max stated as shares of the ground truth's
bounding-box diagonal; plus camera metrics of all frames estimated jointly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..eval.pointcloud_metrics import align_by_first_camera, f_score, f_score_auc, f_score_curve
from .common import (
    BenchStore,
    GeneratorSpec,
    Progress,
    build_pipeline,
    camera_scores,
    ground_truth,
    load_view,
    mean_of,
    run_scene,
)
from .suites import MEMORY_SETTINGS, Suite, camera_trajectories, plan_trajectories


def _settings(suite: Suite, generators: Sequence[GeneratorSpec], seed: int, poses: str) -> dict:
    return {"suite": suite.to_dict(), "generators": [g.__dict__ for g in generators], "seed": seed, "poses": poses}


def _model_of(ws: Any) -> Any:
    return ws.generator if getattr(ws.generator, "model", None) is not None else None


def run_camera(out: Path, suite: Suite, generators: Sequence[GeneratorSpec], seed: int = 0, poses: str = "pycolmap",
               progress: Optional[Progress] = None) -> dict:
    store = BenchStore(out, "camera", _settings(suite, generators, seed, poses), progress)
    for gen in generators:
        ws = None
        for scene in suite.scenes:
            key = f"{scene}/{gen.name}"

            def unit() -> dict:
                nonlocal ws
                ws = ws or build_pipeline(gen, suite.side)
                state = ws.prepare(str(_sample(scene))).state
                trajs = camera_trajectories(state.median_depth, state.K, state.width, state.height, suite.frames)
                run = run_scene(ws, scene, trajs, Path(out) / "runs" / scene / gen.name, suite, False, False, seed)
                rows = {}
                for name in run.names:
                    v = load_view(run, name)
                    m = run.record["trajectories"][name]["metrics"]
                    rows[name] = {"psnr": m["psnr"], "ssim": m["ssim"],
                                  **camera_scores(v.frames, v.cameras, poses, _model_of(ws), seed)}
                return {"trajectories": rows, "mean": _means(rows.values())}

            store.unit(key, unit)
    store.data["aggregate"] = {g.name: _means([r for k, u in store.data["units"].items() if k.endswith("/" + g.name)
                                               for r in u["trajectories"].values()]) for g in generators}
    store.save()
    return store.data


def _means(rows: Any) -> dict:
    rows = list(rows)
    return {k: mean_of(rows, k) for k in ("psnr", "ssim", "rot_err", "trans_err", "ate", "registered_share")}


def _sample(scene: str) -> Path:
    from .common import sample_dir

    return sample_dir(scene)


def gt_cloud(scene: str, cameras: Any) -> np.ndarray:
    """The true surface seen by ``cameras`` (run world frame): the ground-truth depth of every view
    unprojected, so the reference holds what the plan can see and nothing it cannot."""
    truth = ground_truth(scene)
    _, depth = truth.render(cameras)
    h, w = depth.shape[1:]
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    pix = np.stack([jj.ravel(), ii.ravel()], -1)
    pts = np.asarray(cameras.unproject(pix, depth.reshape(len(cameras), -1)))
    ok = depth.reshape(len(cameras), -1) > 0
    return pts[ok]


def run_recon(out: Path, suite: Suite, generators: Sequence[GeneratorSpec], seed: int = 0, poses: str = "pycolmap",
              settings: Sequence[str] = tuple(MEMORY_SETTINGS), progress: Optional[Progress] = None) -> dict:
    from ..camera import Cameras
    from ..reconstruction import ReconstructionConfig, reconstruct_scene

    store = BenchStore(out, "recon", {**_settings(suite, generators, seed, poses), "memory": list(settings)}, progress)
    for gen in generators:
        ws = None
        for scene in suite.scenes:
            for setting in settings:
                key = f"{scene}/{gen.name}/{setting}"

                def unit() -> dict:
                    nonlocal ws
                    ws = ws or build_pipeline(gen, suite.side)
                    state = ws.prepare(str(_sample(scene))).state
                    plan = plan_trajectories(state.median_depth, state.K, state.width, state.height, suite.frames)
                    use_ggm, use_ssm = MEMORY_SETTINGS[setting]
                    run = run_scene(ws, scene, plan, Path(out) / "runs" / scene / gen.name / setting, suite,
                                    use_ggm, use_ssm, seed)
                    views = [load_view(run, n) for n in run.names]
                    cams = Cameras.concat([v.cameras for v in views])
                    gt = gt_cloud(scene, cams)
                    diag = float(np.linalg.norm(gt.max(0) - gt.min(0)))
                    tau, tau_max = suite.tau_ratio * diag, suite.tau_max_ratio * diag
                    cfg = ReconstructionConfig(method="mvs", resolution=suite.recon_resolution, bake_textures=False)
                    rec = reconstruct_scene(run.root, None, None, config=cfg)
                    pts = rec.point_cloud.points
                    first = views[0].cameras[:1]
                    T = align_by_first_camera(pts, gt, first, first, max_distance=tau_max)
                    s = f_score(T.apply(pts), gt, tau)
                    taus, curve = f_score_curve(s, tau_max, 50)
                    # joint camera estimate over all trajectories; frame 0 is the same input view in each
                    keep = [np.arange(len(v.frames)) if i == 0 else np.arange(1, len(v.frames)) for i, v in enumerate(views)]
                    frames = np.concatenate([v.frames[k] for v, k in zip(views, keep)])
                    cam_all = Cameras.concat([v.cameras[k] for v, k in zip(views, keep)])
                    return {"f1": s.f1, "precision": s.precision, "recall": s.recall,
                            "auc": f_score_auc(s, tau_max, 50), "tau": tau, "tau_max": tau_max,
                            "points": int(len(pts)), "gt_points": int(len(gt)),
                            "psnr": float(np.mean([run.record["trajectories"][n]["metrics"]["psnr"] for n in run.names])),
                            "curve": {"tau": taus, "f": curve},
                            "quality_metrics": rec.metadata.get("quality_metrics", {}),
                            **camera_scores(frames, cam_all, poses, _model_of(ws), seed)}

                store.unit(key, unit)
    agg = {}
    for g in generators:
        for setting in settings:
            rows = [u for k, u in store.data["units"].items() if k.endswith(f"/{g.name}/{setting}")]
            agg[f"{g.name}/{setting}"] = {k: mean_of(rows, k) for k in ("f1", "auc", "psnr", "rot_err", "trans_err", "ate")}
    store.data["aggregate"] = agg
    store.save()
    return store.data


__all__ = ["run_camera", "run_recon", "gt_cloud"]
