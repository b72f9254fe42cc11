"""``bench memory``: the memory ablation of paper Table 5 and the trajectory-order study of Table 7.

Ablation: per scene, two sweeps and then two paths that come back to the sweeps' views another way
(``suites.revisit_trajectories``). A frame of a later trajectory is *revisited* when its frustum
overlaps a frame an earlier trajectory generated (IoU >= ``suite.revisit_iou``) while its
overlap with the input view stays below that: only memory can make it agree with what was shown before. Each row —
baseline (no memory), GGM, full (GGM + SSM), DMD (full with the distilled 4-step sampler; learned
generators only) — is scored on the revisited frames: PSNR / SSIM against the true frames,
RotErr / TransErr / ATE of the revisiting trajectories, and the cross-trajectory consistency of the
revisited frames with the frames they revisit.

Order study: the default plan's trajectories generated in several orders with both memories; per
trajectory the overlapping-FoV score (sum over its sampled targets of the best reference's score),
the share of references that are the input view vs. generated frames, and quality. The first row
("input only") scores each trajectory against the initial memory bank alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..eval.consistency import cross_trajectory_consistency, matching_frames
from ..eval.image_metrics import psnr, ssim
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
    sample_dir,
)
from .runners import _model_of, _settings
from .suites import ABLATION_ROWS, Suite, plan_trajectories, revisit_trajectories


def revisited_frames(trajectories: Sequence, scene_depth: float, min_iou: float) -> dict[str, list[int]]:
    """Per trajectory, the frames (>= 1) that overlap an earlier trajectory's generated frame by at least
    ``min_iou`` but the input view by less: what they show, only an earlier generation has shown."""
    from ..geometry import frustum_overlap

    out: dict[str, list[int]] = {}
    for j, later in enumerate(trajectories):
        cams = later.cameras
        to_input = frustum_overlap(cams, cams[:1], 0.1 * scene_depth, 2.0 * scene_depth, n_samples=256)[:, 0]
        hits: set[int] = set()
        for earlier in trajectories[:j]:
            hits.update(i for i, _, _ in matching_frames(cams, earlier.cameras, scene_depth, min_iou) if to_input[i] < min_iou)
        if hits:
            out[later.name] = sorted(hits)
    return out


def run_memory(out: Path, suite: Suite, generators: Sequence[GeneratorSpec], seed: int = 0, poses: str = "pycolmap",
               progress: Optional[Progress] = None) -> dict:
    store = BenchStore(out, "memory", _settings(suite, generators, seed, poses), progress)
    for gen in generators:
        for scene in suite.scenes:
            for row, (use_ggm, use_ssm, sampler) in ABLATION_ROWS.items():
                key = f"ablation/{scene}/{gen.name}/{row}"
                if sampler is not None and not gen.learned:
                    store.data["units"].setdefault(key, {"available": False, "reason": f"{gen.name} has no {sampler} sampler"})
                    continue
                store.unit(key, lambda: _ablation_unit(out, suite, gen, scene, row, use_ggm, use_ssm, sampler, seed, poses))
            for order in suite.orders:
                store.unit(f"order/{scene}/{gen.name}/{order}", lambda: _order_unit(out, suite, gen, scene, order, seed))
            store.unit(f"order/{scene}/{gen.name}/input-only", lambda: _input_only_unit(suite, gen, scene))
    store.data["aggregate"] = _aggregate(store.data["units"], generators, suite)
    store.save()
    return store.data


def _ablation_unit(out: Path, suite: Suite, gen: GeneratorSpec, scene: str, row: str, use_ggm: bool, use_ssm: bool,
                   sampler: Optional[str], seed: int, poses: str) -> dict:
    ws = build_pipeline(gen, suite.side, sampler)
    state = ws.prepare(str(sample_dir(scene))).state
    trajs = revisit_trajectories(state.median_depth, state.K, state.width, state.height, suite.frames)
    run = run_scene(ws, scene, trajs, Path(out) / "runs" / "ablation" / scene / gen.name / row, suite, use_ggm, use_ssm, seed)
    views = [load_view(run, n) for n in run.names]
    revisits = revisited_frames(views, state.median_depth, suite.revisit_iou)
    truth = ground_truth(scene)
    gen_frames, true_frames, cams_rows = [], [], []
    for v in views:
        idx = revisits.get(v.name, [])
        if idx:
            gen_frames.append(v.frames[idx])
            true_frames.append(truth.render(v.cameras[idx])[0])
            cams_rows.append(camera_scores(v.frames, v.cameras, poses, _model_of(ws), seed))
    if not gen_frames:
        raise ValueError(f"bench memory: no revisited views in scene {scene}; the suite's trajectories do not come back")
    a, b = np.concatenate(gen_frames), np.concatenate(true_frames)
    cons = cross_trajectory_consistency(views, state.median_depth, suite.revisit_iou, frames=revisits)
    return {"revisited": revisits, "n_revisited": int(len(a)), "psnr": psnr(a, b), "ssim": ssim(a, b),
            **{k: mean_of(cams_rows, k) for k in ("rot_err", "trans_err", "ate", "registered_share")},
            "consistency": {k: v for k, v in cons.items() if k != "per_pair"}}


def _order_unit(out: Path, suite: Suite, gen: GeneratorSpec, scene: str, order: str, seed: int) -> dict:
    ws = build_pipeline(gen, suite.side)
    state = ws.prepare(str(sample_dir(scene))).state
    plan = {t.name: t for t in plan_trajectories(state.median_depth, state.K, state.width, state.height, suite.frames)}
    names = order.split(",")
    run = run_scene(ws, scene, [plan[n] for n in names], Path(out) / "runs" / "order" / scene / gen.name / order.replace(",", "-"),
                    suite, True, True, seed)
    per, sources = {}, []
    for n in names:
        e = run.record["trajectories"][n]
        refs = json.loads((run.trajectory_dir(n) / "references.json").read_text())
        sources += refs.get("reference_sources", [])
        per[n] = {"overlap_fov_score": e.get("overlap_fov_score", 0.0), "psnr": e["metrics"]["psnr"]}
    initial = sum(s.split(":")[0] in ("input", "panorama") for s in sources)
    cons = cross_trajectory_consistency([load_view(run, n) for n in names], state.median_depth)
    return {"trajectories": per, "all": float(sum(p["overlap_fov_score"] for p in per.values())),
            "reference_share_initial": initial / max(len(sources), 1),
            "reference_share_generated": 1 - initial / max(len(sources), 1) if sources else 0.0,
            "psnr": float(np.mean([p["psnr"] for p in per.values()])),
            "consistency": {k: v for k, v in cons.items() if k != "per_pair"}}


def _input_only_unit(suite: Suite, gen: GeneratorSpec, scene: str) -> dict:
    """Each plan trajectory's overlapping-FoV score against the initial bank (no generation)."""
    from ..pipelines.scene_state import SSM_EVERY

    ws = build_pipeline(gen, suite.side)
    state = ws.prepare(str(sample_dir(scene))).state
    per = {}
    for t in plan_trajectories(state.median_depth, state.K, state.width, state.height, suite.frames):
        per[t.name] = {"overlap_fov_score": float(np.sum(state.bank.retrieve(t.cameras, every=SSM_EVERY).scores))}
    return {"trajectories": per, "all": float(sum(p["overlap_fov_score"] for p in per.values())),
            "reference_share_initial": 1.0, "reference_share_generated": 0.0}


def _aggregate(units: dict, generators: Sequence[GeneratorSpec], suite: Suite) -> dict:
    """Means over scenes per (generator, row) and per (generator, order)."""
    agg: dict = {"ablation": {}, "order": {}}
    for g in generators:
        for row in ABLATION_ROWS:
            rows = [units.get(f"ablation/{s}/{g.name}/{row}", {}) for s in suite.scenes]
            if not all(r.get("available", True) for r in rows):
                agg["ablation"][f"{g.name}/{row}"] = {"available": False}
                continue
            flat = [{**r, **{f"consistency_{k}": v for k, v in r.get("consistency", {}).items()}} for r in rows]
            agg["ablation"][f"{g.name}/{row}"] = {k: mean_of(flat, k) for k in (
                "psnr", "ssim", "rot_err", "trans_err", "ate", "consistency_reprojection_error_px",
                "consistency_photometric_psnr")}
        for order in ("input-only", *suite.orders):
            rows = [units.get(f"order/{s}/{g.name}/{order}", {}) for s in suite.scenes]
            names = list(rows[0].get("trajectories", {})) if rows else []
            entry = {n: mean_of([r["trajectories"][n] for r in rows if n in r.get("trajectories", {})], "overlap_fov_score")
                     for n in sorted(names, key=["orbit", "up", "right", "left"].index)}
            flat = [{**r, **{f"consistency_{k}": v for k, v in r.get("consistency", {}).items()}} for r in rows]
            entry.update({k: mean_of(flat, k) for k in ("all", "reference_share_initial", "reference_share_generated",
                                                        "psnr", "consistency_reprojection_error_px",
                                                        "consistency_photometric_psnr")})
            agg["order"][f"{g.name}/{order}"] = entry
    return agg
