"""Evaluate a trained tiny model on held-out synthetic scenes and on the demo (the figures of its
MODEL_CARD.md and of issue 14).

Scenes: ``--scenes`` per kind (object, room, outdoor), seeds from 90001 on (``--seed0``; 80001 gives the
validation scenes release settings are chosen on) — never drawn by the
training clips (their scene seeds come from ``default_rng([seed, i])``), square, ``--size`` px
(default twice the model's native long side), and ``--frames`` frames per trajectory (default the
model's). Plan per scene, all from the input view, in this order: right 40°, left 40°, then right
60° and left 60°, whose frames up to 40° revisit views the first two trajectories generated, then
the default plan's ``orbit`` and ``up`` (45°), taken from ``WorldStereo.plan`` (as ``worldstereo
generate`` builds them, pivot brought nearer where the input's surfaces ask). Settings (paper Table
5 rows): ``none`` (no memory: single-view cache render, no references), ``ggm``, ``full`` (GGM +
SSM), ``dmd`` (full with the 4-step distilled generator), ``dmd_none`` (the distilled generator
without memories), and the ``warp`` baseline. ``none``/``ggm``/``full`` use the 40-step teacher.

The demo (``worldstereo demo``: the bundled ``object`` sample, the default plan orbit -> up ->
right 90° -> left 90°, both memories, the model's default sampler) runs too unless ``--no-demo``;
the ``warp`` baseline runs on it at the model's working size for reference.

Prints one JSON object (also written to ``OUT/bench_tiny_model.json``) and a readable digest on
stderr. Keys:

Only frames whose camera stands in the scene's true free space are scored against the truth (the
default plan's orbit and up, the paper's plan, rise through the ceiling of most rooms, and a sweep
can pass through a wall the input never saw: from there the true frame shows the back of the
geometry, which no method is asked to invent); ``frames_outside_scene`` counts the others.

- ``summary[setting]``: means over held-out scenes and trajectories of ``psnr``, ``ssim`` (all
  generated frames 1..N-1 in free space), ``psnr_visible``/``psnr_disoccluded``/``ssim_disoccluded`` (pixels
  the cache render covered / its holes), ``psnr_revisited``/``ssim_revisited`` (right/left 60°
  frames at <= 40°); ``sharpness_ratio`` (mean image-gradient energy of the generated frames over
  that of the true frames, pooled; issue 14 wants 0.5–2); ``cache_merged_share`` (generated
  keyframes — frame 0 is the input — the Cache3D accepted / those offered to it; None without
  GGM, which merges nothing) and ``cache_merged_depth_relerr_median`` (per scene the median over
  the merged points of |z - z_true| / z_true in the camera of the frame each came from, true depth
  from the synthetic scene; mean over scenes); ``consistency_psnr`` (eval.consistency's
  cross-trajectory photometric PSNR, frames in free space reprojected with the TRUE depth, so it judges the
  frames alone) and ``consistency_psnr_run_depth``/``consistency_reprojection_error_px`` (the
  same through the depth the run merged, as ``worldstereo bench memory``); camera metrics
  (pycolmap, pose head) unless ``--no-poses``; ``frames_scored``/``frames_outside_scene`` (totals).
- ``by_trajectory[setting][trajectory]``: psnr, ssim, psnr_disoccluded, psnr_revisited, sharpness.
- ``margins_vs_warp[setting]``: setting minus warp on psnr, ssim, psnr_disoccluded.
- ``memory_margins``: on psnr_revisited ``ggm_minus_none``, ``full_minus_ggm``,
  ``dmd_minus_dmd_none``, and with the 4-step generator ``dmd_ggm_minus_dmd_none`` (GGM) and
  ``dmd_minus_dmd_ggm`` (SSM on top); the same pairs on consistency_psnr (and _run_depth); ``dmd_minus_full``
  (the 4-step generator against the 40-step teacher, both memories) on psnr, ssim, psnr_revisited.
- ``timing_s_per_trajectory``: generator seconds per trajectory, 40-step CFG teacher (``euler``)
  vs the 4-step generator (``dmd``), median of ``--timing-repeats``, and ``speedup``.
- ``demo``: per generator (``model``, ``warp``) the same image figures against the sample's truth
  (it is a synthetic scene), ``sharpness_ratio`` (vs the true frames) and
  ``sharpness_ratio_vs_input`` (vs the input image at the working size), cache growth, per trajectory.
- ``per_scene``, ``wall_s``, ``out``.

``--sheet PATH`` writes a contact sheet PNG: the demo's trajectories frame by frame (true row above
the generated row), then the first held-out scene's trajectories (true row above one row per
setting). Runs and scores are kept under ``--out`` and reused: a rerun into the same folder only
does what is missing.

    python benchmarks/bench_tiny_model.py [--model DIR] [--scenes 2] [--out DIR] [--settings none,ggm,...]
        [--size PX] [--frames N] [--no-demo] [--no-poses] [--sheet PATH] [--timing-repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from worldstereo.camera import Cameras, CameraTrajectory, load_trajectory, plucker_rays, rotate
from worldstereo.data.samples import SampleSpec, read_sample, render_sample, write_sample
from worldstereo.eval import SyntheticGroundTruth, TrajectoryView, cross_trajectory_consistency
from worldstereo.eval.camera_metrics import camera_metrics
from worldstereo.eval.image_metrics import gradient_energy, masked_scores, psnr, ssim
from worldstereo.pipelines.api import WorldStereo, bundled_models
from worldstereo.pipelines.video import read_frames

KINDS = ("object", "room", "outdoor")
SETTINGS = {"none": (False, False, "euler"), "ggm": (True, False, "euler"), "full": (True, True, "euler"),
            "dmd": (True, True, "dmd"), "dmd_ggm": (True, False, "dmd"), "dmd_none": (False, False, "dmd"),
            "warp": (True, True, None)}
SWEEPS = (("right40", "right", 40.0), ("left40", "left", 40.0), ("right60", "right", 60.0), ("left60", "left", 60.0))
DEFAULT_PLAN_PICK = ("orbit", "up")  # of WorldStereo.plan's default plan
REVISIT = {"right60": 40.0, "left60": 40.0}  # frames turned at most this far re-show the 40° sweeps' views
DEMO_SAMPLE = "object"  # what `worldstereo demo` starts from
SCORE_VERSION = 3  # bump when what score_run stores changes: cached scores of another version are redone
IMAGE_KEYS = ("psnr", "ssim", "psnr_visible", "psnr_disoccluded", "ssim_disoccluded", "psnr_revisited", "ssim_revisited")


def log(msg: str) -> None:
    print(f"[bench_tiny_model {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- scenes and trajectories ---------------------------------------------------------------------------
def held_out(root: Path, per_kind: int, size: int, seed0: int = 90001) -> list[Path]:
    folders = []
    for k, kind in enumerate(KINDS):
        for j in range(per_kind):
            seed = seed0 + 100 * k + j
            name = f"{kind}-{seed}"
            folder = root / name
            meta = folder / "meta.json"
            if not (meta.is_file() and json.loads(meta.read_text()).get("width") == size):
                write_sample(render_sample(SampleSpec(kind, seed, seed, size, size, fov_deg=60.0), name), folder)
            folders.append(folder)
    return folders


def plan(ws: WorldStereo, folder: Path, n: int) -> list[CameraTrajectory]:
    """right/left 40°, right/left 60°, then the default plan's orbit and up exactly as
    ``WorldStereo.plan`` makes them for this scene. The sweeps pivot at the median depth, brought
    nearer where they would cross a surface the input sees, as ``worldstereo generate`` brings its
    presets (``SceneState.clear_of_surfaces``): a camera inside a wall sees nothing any method could
    be scored on. Both sweeps of a direction share the pivot the wider one allows, so the 60° sweep's
    first 40° stay on the 40° sweep's arc (its revisits)."""
    state = ws.prepare(folder).state
    common = dict(K=state.K, width=state.width, height=state.height, n_frames=n)
    widest = {}
    for name, direction, deg in SWEEPS:
        if deg == max(d for _, dd, d in SWEEPS if dd == direction):
            state.clear_of_surfaces(name, lambda depth: rotate(direction, deg, depth, **common))
            widest[direction] = state.plan_scales[name]
    trajs = []
    for name, direction, deg in SWEEPS:
        t = rotate(direction, deg, widest[direction] * state.median_depth, **common)
        trajs.append(CameraTrajectory(t.cameras, name=name, kind=t.kind, fps=t.fps))
    default = {t.name: t for t in ws.plan(state, None, n)}
    return trajs + [default[name] for name in DEFAULT_PLAN_PICK]


def turn_deg(cams: Cameras) -> np.ndarray:
    """Each camera's rotation away from the input view (identity), in degrees."""
    R = np.asarray(cams.cam_from_world)[:, :3, :3]
    c = np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(c))


def revisited(name: str, cams: Cameras) -> list[int]:
    if name not in REVISIT:
        return []
    return [int(i) for i in np.flatnonzero(turn_deg(cams) <= REVISIT[name] + 1e-3) if i >= 1]


# -- scoring -------------------------------------------------------------------------------------------
def read_masks(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    return np.stack([f[..., 0] > 127 for f in iio.imread(path)])


def pose_head_cameras(ws: WorldStereo, frames: np.ndarray, renders: np.ndarray, masks: np.ndarray,
                      cams: Cameras) -> Cameras:
    from worldstereo.models import Conditioning

    gen = ws.generator
    m, dev, dt = gen.model, gen.device, gen.dtype

    def t(a):
        x = torch.as_tensor(np.asarray(a, np.float32))
        x = x[..., None] if x.ndim == 3 else x
        return x.permute(3, 0, 1, 2)[None].to(dev, dt)

    video = t(frames)
    latents = m.codec.encode(video)
    cond = Conditioning(*m.image_condition(video[:, :, 0], len(frames)))
    rays = plucker_rays(cams, cams.height, cams.width).permute(1, 0, 2, 3)[None].to(dev, dt)
    cond.camera = m.camera_condition(t(renders), t(masks.astype(np.float32)), rays)
    return m.estimate_cameras(latents, cond, cams.width, cams.height, torch.zeros_like(latents), K=cams.K[0])[0]


def camera_scores(rec: dict, ws: WorldStereo, d: Path, frames: np.ndarray, masks: np.ndarray, cams: Cameras,
                  learned: bool) -> None:
    import imageio.v3 as iio

    from worldstereo.eval.poses import estimate_cameras

    try:
        est = estimate_cameras(frames, cams.K[0], backend="pycolmap")
        rec["pycolmap_registered"] = est.registered_share
        if est.registered.all():
            rec["pycolmap"] = {k: v for k, v in camera_metrics(est.cameras, cams).items() if k in ("rot_err", "trans_err", "ate")}
    except Exception as exc:  # too few features on small frames: report, never invent
        rec["pycolmap_error"] = str(exc).splitlines()[0][:120]
    if learned:
        renders = np.asarray(iio.imread(d / "render.mp4"), np.float32)[..., :3] / 255.0
        ph = pose_head_cameras(ws, frames, renders, masks, cams)
        rec["pose_head"] = {k: v for k, v in camera_metrics(ph, cams).items() if k in ("rot_err", "trans_err", "ate")}


def cache_growth(run_root: Path, truth: dict[str, tuple[Cameras, np.ndarray, np.ndarray]]) -> dict:
    """How the run's Cache3D grew: generated keyframes (index >= 1) offered / accepted, from
    ``run.json``'s ``cache_steps`` and the cache's alignment log, and the merged points' relative
    depth error against the truth in the camera of the keyframe each came from.

    ``truth``: per trajectory its cameras, true z-depth and which cameras stand in the scene's free
    space (None: no ground truth, share only); keyframes filmed from outside it are not scored."""
    from worldstereo.memory.ply import read_ply

    record = json.loads((run_root / "run.json").read_text())
    steps = [s for s in record.get("cache_steps", []) if s.get("after") != "input"]
    points_initial = next((s["points"] for s in record.get("cache_steps", []) if s.get("after") == "input"), None)
    meta = json.loads((run_root / "cache.json").read_text())
    aligns = meta.get("alignments", [])
    view, pos = 1, 0  # view 0: the input view's points; each accepted frame adds the next view id
    offered = accepted = 0
    source: dict[int, tuple[str, int]] = {}
    for s in steps:
        if "rejections" not in s:  # no GGM (or no depth): nothing was offered to the cache
            continue
        keys = s["keyframes"]
        block = aligns[pos:pos + len(keys)]
        pos += len(keys)
        if len(block) != len(keys):
            return {"error": "cache.json's alignments do not match run.json's cache steps"}
        for k, a in zip(keys, block):
            if k >= 1:
                offered += 1
                accepted += bool(a["accepted"])
            if a["accepted"]:
                source[view] = (s["after"], k)
                view += 1
    out = {"offered": offered, "merged": accepted, "merged_share": accepted / offered if offered else None,
           "points_initial": points_initial, "points_final": meta.get("points")}
    if pos != len(aligns):
        out["error"] = "cache.json holds alignments no cache step accounts for"
        return out
    if not offered or truth is None:
        return out
    pc = read_ply(run_root / "cache.ply")
    rel = []
    for v, (name, k) in source.items():
        if k < 1 or name not in truth:
            continue
        cams, depth, free = truth[name]
        if not free[k]:  # a keyframe filmed from inside the geometry: its true depth is of no use
            continue
        xyz = np.asarray(pc.xyz, np.float64)[np.asarray(pc.view_ids) == v]
        if not len(xyz):
            continue
        T, K = np.asarray(cams.cam_from_world[k]), np.asarray(cams.K[k])
        xc = xyz @ T[:3, :3].T + T[:3, 3]
        z = xc[:, 2]
        ok = z > 1e-9
        u = K[0, 0] * xc[ok, 0] / z[ok] + K[0, 2]
        w = K[1, 1] * xc[ok, 1] / z[ok] + K[1, 2]
        h, wd = depth.shape[1:]
        inside = (u >= 0) & (u < wd) & (w >= 0) & (w < h)
        zt = depth[k][w[inside].astype(int), u[inside].astype(int)]
        zz = z[ok][inside]
        good = zt > 0
        rel.append(np.abs(zz[good] - zt[good]) / zt[good])
    rel_all = np.concatenate(rel) if rel else np.zeros(0)
    out.update({"merged_points": int(len(rel_all)),
                "depth_relerr_median": float(np.median(rel_all)) if len(rel_all) else None,
                "depth_relerr_p90": float(np.percentile(rel_all, 90)) if len(rel_all) else None})
    return out


def consistency(views: list[TrajectoryView], scene_depth: float) -> dict:
    c = cross_trajectory_consistency(views, scene_depth)
    return {k: v for k, v in c.items() if k != "per_pair"}


def score_run(run_root: Path, gt: Optional[SyntheticGroundTruth], ws: WorldStereo, learned: bool, poses: bool,
              input_image: Optional[np.ndarray] = None) -> dict:
    """Per trajectory image figures and sharpness, then the run's cache growth and cross-trajectory
    consistency. Trajectories in generation order (``run.json``'s ``order``)."""
    record = json.loads((run_root / "run.json").read_text())
    names = record.get("order") or sorted(p.name for p in (run_root / "trajectories").iterdir())
    trajs, truth, views_run, views_true = {}, {}, [], []
    for name in names:
        d = run_root / "trajectories" / name
        cams = load_trajectory(d / "cameras.json").cameras
        frames = read_frames(d / "frames").astype(np.float32) / 255.0
        masks = read_masks(d / "mask.mp4")[:, :frames.shape[1], :frames.shape[2]]  # mp4 pads odd sizes to even
        rec: dict = {"frames": len(frames), "grad_energy": gradient_energy(frames[1:])}
        if input_image is not None:
            rec["grad_energy_input"] = gradient_energy(input_image)
        depth = np.zeros(frames.shape[:3], np.float32)
        if (d / "depth.npz").is_file():
            with np.load(d / "depth.npz") as z:
                depth = z["depth"].astype(np.float32)
        views_run.append(TrajectoryView(name, frames, depth, cams))
        if gt is not None:
            true_frames, true_depth = gt.render(cams)
            free = gt.in_free_space(cams)
            free[0] = True  # the input view
            truth[name] = (cams, true_depth, free)
            scored = np.flatnonzero(free[1:]) + 1
            rec["frames_scored"], rec["frames_outside_scene"] = int(len(scored)), int((~free).sum())
            keep = np.flatnonzero(free)
            views_true.append(TrajectoryView(name, frames[keep], true_depth[keep], cams[keep]))
            rec["grad_energy"] = gradient_energy(frames[scored]) if len(scored) else None
            if len(scored):
                rec.update(masked_scores(frames[scored], true_frames[scored], masks[scored]))
                rec["grad_energy_true"] = gradient_energy(true_frames[scored])
                rec["sharpness_ratio"] = rec["grad_energy"] / max(rec["grad_energy_true"], 1e-12)
            idx = [i for i in revisited(name, cams) if free[i]]
            if idx:
                rec["revisited_frames"] = idx
                rec["psnr_revisited"] = psnr(frames[idx], true_frames[idx])
                rec["ssim_revisited"] = ssim(frames[idx], true_frames[idx])
        if poses:
            camera_scores(rec, ws, d, frames, masks, cams, learned)
        trajs[name] = rec
    scene_depth = float(json.loads((run_root / "cache.json").read_text())["scene_depth"])
    out = {"trajectories": trajs, "cache": cache_growth(run_root, truth if gt is not None else None),
           "consistency_run_depth": consistency(views_run, scene_depth)}
    if gt is not None:
        out["consistency_true_depth"] = consistency(views_true, scene_depth)
    return out


def cached_scores(path: Path, key: dict, fn) -> dict:
    """``fn()``'s scores, kept in ``path`` with ``key`` (the settings they depend on) and reused."""
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("key") == key:
            return old["scores"]
    scores = clean(fn())
    path.write_text(json.dumps({"key": key, "scores": scores}))
    return scores


# -- timing --------------------------------------------------------------------------------------------
def timing(ws: WorldStereo, folder: Path, trajectory: CameraTrajectory, repeats: int = 3) -> dict:
    """Seconds per trajectory in the generator alone: 40-step teacher (CFG) vs 4-step DMD generator."""
    state = ws.prepare(folder).state
    req = state.request(trajectory, True, False)
    gen = ws.generator
    default = gen.sampler
    res = {}
    for sampler in ("euler", "dmd"):
        gen.sampler = sampler
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            gen.generate(req)
            times.append(time.perf_counter() - t0)
        res[sampler] = statistics.median(times)
    gen.sampler = default
    res["speedup"] = res["euler"] / res["dmd"]
    res["frames"], res["size"] = len(trajectory), [state.width, state.height]
    return res


# -- summaries -----------------------------------------------------------------------------------------
def clean(x):
    """JSON-safe: numpy scalars to Python, non-finite numbers to None (strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def mean(values):
    values = [float(v) for v in values if isinstance(v, (int, float, np.number)) and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _diff(a, b):
    return None if a is None or b is None else a - b


def summarise_setting(scenes: dict) -> dict:
    trajs = [t for s in scenes.values() for t in s["trajectories"].values()]
    row = {k: mean([t.get(k) for t in trajs]) for k in IMAGE_KEYS}
    g, gt = mean([t.get("grad_energy") for t in trajs]), mean([t.get("grad_energy_true") for t in trajs])
    row["grad_energy"], row["grad_energy_true"] = g, gt
    row["sharpness_ratio"] = None if g is None or not gt else g / gt
    for k in ("frames_scored", "frames_outside_scene"):
        row[k] = sum(t.get(k, 0) for t in trajs)
    caches = [s["cache"] for s in scenes.values()]
    offered = sum(c.get("offered", 0) for c in caches)
    row["cache_offered"] = offered
    row["cache_merged_share"] = sum(c.get("merged", 0) for c in caches) / offered if offered else None
    row["cache_merged_depth_relerr_median"] = mean([c.get("depth_relerr_median") for c in caches])
    row["cache_points_growth"] = mean([c["points_final"] / c["points_initial"] for c in caches
                                       if c.get("points_initial") and c.get("points_final")])
    row["consistency_psnr"] = mean([s.get("consistency_true_depth", {}).get("photometric_psnr") for s in scenes.values()])
    row["consistency_psnr_run_depth"] = mean([s["consistency_run_depth"].get("photometric_psnr") for s in scenes.values()])
    row["consistency_reprojection_error_px"] = mean([s["consistency_run_depth"].get("reprojection_error_px")
                                                     for s in scenes.values()])
    for est in ("pycolmap", "pose_head"):
        got = [t[est] for t in trajs if est in t]
        if got or any(f"{est}_error" in t or f"{est}_registered" in t for t in trajs):
            row[f"{est}_trajectories"] = len(got)
            for k in ("rot_err", "trans_err", "ate"):
                row[f"{est}_{k}"] = mean([x[k] for x in got])
    return row


def by_trajectory(scenes: dict) -> dict:
    names = list(next(iter(scenes.values()))["trajectories"]) if scenes else []
    out = {}
    for n in names:
        rows = [s["trajectories"][n] for s in scenes.values() if n in s["trajectories"]]
        out[n] = {k: mean([r.get(k) for r in rows]) for k in ("psnr", "ssim", "psnr_disoccluded", "psnr_revisited",
                                                               "sharpness_ratio")}
    return out


def margins(summary: dict) -> tuple[dict, dict]:
    vs_warp = {}
    if "warp" in summary:
        w = summary["warp"]
        for s, row in summary.items():
            if s != "warp":
                vs_warp[s] = {k: _diff(row.get(k), w.get(k)) for k in ("psnr", "ssim", "psnr_disoccluded")}
    memory = {}
    for a, b in (("ggm", "none"), ("full", "ggm"), ("dmd", "dmd_none"), ("dmd_ggm", "dmd_none"), ("dmd", "dmd_ggm")):
        if a in summary and b in summary:
            memory[f"{a}_minus_{b}"] = {k: _diff(summary[a].get(k), summary[b].get(k))
                                        for k in ("psnr_revisited", "consistency_psnr", "consistency_psnr_run_depth")}
    if "dmd" in summary and "full" in summary:  # issue 14: the 4-step generator within 1 dB of the teacher
        memory["dmd_minus_full"] = {k: _diff(summary["dmd"].get(k), summary["full"].get(k))
                                    for k in ("psnr", "ssim", "psnr_revisited", "consistency_psnr")}
    return vs_warp, memory


# -- demo ----------------------------------------------------------------------------------------------
def run_demo(model: WorldStereo, root: Path, poses: bool) -> dict:
    """``worldstereo demo``'s run (bundled sample, default plan, both memories, the model's default
    sampler) with the model and with ``warp`` at the model's working size."""
    import imageio.v3 as iio

    from worldstereo.bench.common import sample_dir

    folder = sample_dir(DEMO_SAMPLE)
    meta = read_sample(folder).meta
    gt = SyntheticGroundTruth.from_meta(meta)
    warp_side = max(model.generator.working_size(int(meta["height"]), int(meta["width"])))
    frames = model.generator.num_frames
    out = {}
    for name, ws in (("model", model), ("warp", WorldStereo.from_pretrained("warp", max_side=warp_side))):
        t0 = time.perf_counter()
        run = ws.generate_scene(str(folder), output_dir=root / "demo" / name, resume=True, seed=0, n_frames=frames)
        image = np.asarray(iio.imread(run.root / "input.png"), np.float32)[..., :3] / 255.0
        key = {"version": SCORE_VERSION, "poses": poses, "generator": ws.generator.describe(), "order": run.names}
        scores = cached_scores(run.root / "bench_scores.json", key,
                               lambda: score_run(run.root, gt, ws, name == "model", poses, input_image=image))
        scenes = {DEMO_SAMPLE: scores}
        row = summarise_setting(scenes)
        g_in = gradient_energy(image)
        row["grad_energy_input"] = g_in
        row["sharpness_ratio_vs_input"] = None if row["grad_energy"] is None else row["grad_energy"] / g_in
        out[name] = {"generator": ws.generator.describe(), "working_size": [run.state.width, run.state.height],
                     "summary": row, "by_trajectory": by_trajectory(scenes),
                     "per_trajectory_sharpness_vs_input": {n: t["grad_energy"] / g_in for n, t in scores["trajectories"].items()},
                     "cache": scores["cache"], "run": str(run.root), "wall_s": time.perf_counter() - t0}
        log(f"demo {name}: {out[name]['wall_s']:.0f} s")
    return out


# -- contact sheet -------------------------------------------------------------------------------------
def _row_image(frames: np.ndarray, scale: int, gap: int = 2) -> np.ndarray:
    f = (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)
    if scale > 1:
        f = f.repeat(scale, 1).repeat(scale, 2)
    n, h, w = f.shape[:3]
    row = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i in range(n):
        row[:, i * (w + gap):i * (w + gap) + w] = f[i]
    return row


def write_sheet(path: Path, blocks: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> None:
    """A PNG of labelled rows of frames: per block a title line, then one row per (label, frames)."""
    from PIL import Image, ImageDraw

    label_w, line, gap = 150, 14, 4
    pieces: list[tuple[str, Optional[np.ndarray]]] = []
    for title, rows in blocks:
        pieces.append((title, None))
        for label, frames in rows:
            h = frames.shape[1]
            pieces.append((label, _row_image(frames, max(1, round(96 / h)))))
    width = label_w + max(p.shape[1] for _, p in pieces if p is not None)
    height = sum((line + gap) if p is None else p.shape[0] + gap for _, p in pieces) + gap
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = gap
    for label, p in pieces:
        if p is None:
            draw.text((4, y), label, fill=(0, 0, 0))
            y += line + gap
            continue
        draw.text((4, y + p.shape[0] // 2 - 6), label, fill=(0, 0, 0))
        sheet.paste(Image.fromarray(p), (label_w, y))
        y += p.shape[0] + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def sheet_blocks(root: Path, demo: Optional[dict], scene: Optional[Path], settings: list[str]) -> list:
    from worldstereo.bench.common import sample_dir

    blocks = []

    def rows_for(gt: SyntheticGroundTruth, runs: list[tuple[str, Path]]) -> list:
        rows = []
        names = json.loads((runs[0][1] / "run.json").read_text()).get("order", [])
        for n in names:
            cams = load_trajectory(runs[0][1] / "trajectories" / n / "cameras.json").cameras
            rows.append((f"{n} truth", gt.render(cams)[0]))
            for label, r in runs:
                d = r / "trajectories" / n / "frames"
                if d.is_dir():
                    rows.append((f"{n} {label}", read_frames(d).astype(np.float32) / 255.0))
        return rows

    if demo is not None:
        gt = SyntheticGroundTruth.from_meta(read_sample(sample_dir(DEMO_SAMPLE)).meta)
        blocks.append((f"demo ({DEMO_SAMPLE} sample, default plan, model default sampler, both memories)",
                       rows_for(gt, [("model", Path(demo["model"]["run"]))])))
    if scene is not None:
        gt = SyntheticGroundTruth.from_meta(read_sample(scene).meta)
        runs = [(s, root / "runs" / s / scene.name) for s in settings if (root / "runs" / s / scene.name / "run.json").is_file()]
        if runs:
            blocks.append((f"held-out scene {scene.name}", rows_for(gt, runs)))
    return blocks


def digest(result: dict) -> str:
    def f(v, fmt="{:+.2f}"):
        return "n/a" if v is None else fmt.format(v)

    lines = ["setting    PSNR   SSIM   dis.PSNR  rev.PSNR  sharp  merged  depth-err  cons.PSNR"]
    for s, r in result["summary"].items():
        lines.append(f"{s:9s} {f(r['psnr'], '{:6.2f}')} {f(r['ssim'], '{:6.3f}')} {f(r['psnr_disoccluded'], '{:8.2f}')}"
                     f"  {f(r['psnr_revisited'], '{:8.2f}')}  {f(r['sharpness_ratio'], '{:5.2f}')}"
                     f"  {f(r['cache_merged_share'], '{:6.0%}')}  {f(r['cache_merged_depth_relerr_median'], '{:8.3f}')}"
                     f"  {f(r['consistency_psnr'], '{:8.2f}')}")
    first = next(iter(result["summary"].values()), None)
    if first:
        lines.append(f"frames scored {first['frames_scored']}, left out (camera outside the scene's free space) "
                     f"{first['frames_outside_scene']}")
    for s, m in result["margins_vs_warp"].items():
        lines.append(f"margin vs warp  {s:9s} PSNR {f(m['psnr'])} dB  SSIM {f(m['ssim'], '{:+.3f}')}  "
                     f"disoccluded PSNR {f(m['psnr_disoccluded'])} dB")
    for k, m in result["memory_margins"].items():
        if k == "dmd_minus_full":
            lines.append(f"dmd vs teacher  {k:18s} PSNR {f(m['psnr'])} dB  revisited PSNR {f(m['psnr_revisited'])} dB")
            continue
        lines.append(f"memory margin   {k:18s} revisited PSNR {f(m['psnr_revisited'])} dB  "
                     f"consistency PSNR {f(m['consistency_psnr'])} dB")
    t = result.get("timing_s_per_trajectory")
    if t:
        lines.append(f"timing: teacher {t['euler']:.2f} s, dmd {t['dmd']:.2f} s per trajectory: {t['speedup']:.1f}x")
    for name, d in (result.get("demo") or {}).items():
        r = d["summary"]
        lines.append(f"demo {name:5s} PSNR {f(r['psnr'], '{:.2f}')}  sharpness vs truth {f(r['sharpness_ratio'], '{:.2f}')}"
                     f"  vs input {f(r['sharpness_ratio_vs_input'], '{:.2f}')}  merged {f(r['cache_merged_share'], '{:.0%}')}"
                     f"  depth err {f(r['cache_merged_depth_relerr_median'], '{:.3f}')}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(bundled_models()["worldstereo-tiny"]))
    ap.add_argument("--scenes", type=int, default=2, help="held-out scenes per kind")
    ap.add_argument("--seed0", type=int, default=90001,
                    help="first scene seed (kind k, scene j: seed0 + 100 k + j); 90001 is the benchmark, 80001 the "
                         "validation scenes release settings are chosen on")
    ap.add_argument("--size", type=int, default=None, help="held-out image side (default: 2 x the model's native long side)")
    ap.add_argument("--frames", type=int, default=None, help="frames per trajectory (default: the model's)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                    help="also run and score the demo (bundled object sample, default plan)")
    ap.add_argument("--poses", action=argparse.BooleanOptionalAction, default=True,
                    help="camera metrics (pycolmap, pose head) of every trajectory")
    ap.add_argument("--timing-repeats", type=int, default=3, help="0 skips the teacher/DMD timing")
    ap.add_argument("--sheet", default=None, help="write a contact-sheet PNG here")
    args = ap.parse_args()
    if args.seed0 < 0 or args.seed0 + 100 * (len(KINDS) - 1) + args.scenes >= 2**31:
        ap.error(f"--seed0 {args.seed0}: scene seeds must lie in 0..2**31-1; pass e.g. 90001 (benchmark) or 80001 (validation)")
    settings = args.settings.split(",")
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        ap.error(f"--settings: unknown {unknown}; choose from {', '.join(SETTINGS)}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 2))  # the 2-core target unless told
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_tiny_"))
    model = WorldStereo.from_pretrained(args.model)
    gen = model.generator
    default_sampler = gen.sampler
    frames = args.frames or gen.num_frames
    size = args.size or 2 * max(gen.native)
    side = max(gen.working_size(size, size))
    log(f"model {args.model}: native {gen.native}, {gen.num_frames} frames, default sampler {default_sampler}; "
        f"held-out {size} px -> working {gen.working_size(size, size)}, {frames} frames")
    folders = held_out(root / "scenes", args.scenes, size, args.seed0)
    warp = WorldStereo.from_pretrained("warp", max_side=side)
    per_scene: dict = {}
    wall: dict = {}
    for setting in settings:
        use_ggm, use_ssm, sampler = SETTINGS[setting]
        ws = warp if sampler is None else model
        gen.sampler = sampler or default_sampler
        per_scene[setting] = {}
        t0 = time.perf_counter()
        for folder in folders:
            out_dir = root / "runs" / setting / folder.name
            trajs = plan(ws, folder, frames)
            key = {"version": SCORE_VERSION, "poses": args.poses, "model": str(args.model), "setting": setting,
                   "frames": frames, "size": size, "trajectories": [t.name for t in trajs]}

            def unit() -> dict:
                run = ws.generate_scene(folder, trajs, output_dir=out_dir, resume=True, use_ggm=use_ggm, use_ssm=use_ssm)
                gt = SyntheticGroundTruth.from_meta(read_sample(folder).meta)
                return score_run(run.root, gt, ws, sampler is not None, args.poses)

            t1 = time.perf_counter()
            per_scene[setting][folder.name] = cached_scores(out_dir / "bench_scores.json", key, unit)
            log(f"{setting} {folder.name}: {time.perf_counter() - t1:.0f} s")
        wall[setting] = time.perf_counter() - t0
        gen.sampler = default_sampler
    speed = None
    if args.timing_repeats > 0:
        t0 = time.perf_counter()
        speed = timing(model, folders[0], plan(model, folders[0], frames)[0], args.timing_repeats)
        wall["timing"] = time.perf_counter() - t0
    demo = None
    if args.demo:
        t0 = time.perf_counter()
        demo = run_demo(model, root, args.poses)
        wall["demo"] = time.perf_counter() - t0
    summary = {s: summarise_setting(scenes) for s, scenes in per_scene.items()}
    vs_warp, memory = margins(summary)
    result = {"bench": "tiny_model", "model": args.model, "generator": gen.describe(), "scenes": [f.name for f in folders],
              "frames": frames, "size": size, "settings": settings, "summary": summary,
              "by_trajectory": {s: by_trajectory(scenes) for s, scenes in per_scene.items()},
              "margins_vs_warp": vs_warp, "memory_margins": memory, "timing_s_per_trajectory": speed, "demo": demo,
              "wall_s": wall, "per_scene": per_scene, "out": str(root)}
    if args.sheet:
        write_sheet(Path(args.sheet), sheet_blocks(root, demo, folders[0] if folders else None, settings))
        result["sheet"] = args.sheet
    text = json.dumps(clean(result))
    (root / "bench_tiny_model.json").write_text(text)
    print(digest(result), file=sys.stderr)
    print(text)


if __name__ == "__main__":
    main()
