"""Evaluate a trained tiny model on held-out synthetic scenes (the figures of its MODEL_CARD.md).

Scenes: ``--scenes`` per kind (object, room, outdoor), seeds from 90001 on — never drawn by the
training clips (their scene seeds come from ``default_rng([seed, i])``). Plan per scene, all from
the input view: right 40°, left 40°, then right 60° and left 60°, whose frames 1–5 (≤ 37.5°) revisit
views the first two trajectories generated. Settings (paper Table 5 rows): ``none`` (no memory:
single-view cache render, no references), ``ggm``, ``full`` (GGM + SSM), ``dmd`` (full with the
4-step distilled generator), ``dmd_none`` (the distilled generator without memories: do the GGM and
SSM branches still help it, though it was distilled without them?), and the ``warp`` baseline.

Prints one JSON object: per setting, PSNR/SSIM of all generated frames, of disoccluded pixels and
of revisited frames against the ground-truth renders; RotErr/TransErr/ATE of the generated videos
from pycolmap and from the model's pose head (against the requested cameras); generation time per
trajectory for the 40-step teacher and the 4-step generator.

    python benchmarks/bench_tiny_model.py [--model DIR] [--scenes 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from worldstereo.camera import Cameras, CameraTrajectory, plucker_rays, rotate
from worldstereo.data.samples import SampleSpec, render_sample, write_sample
from worldstereo.eval import SyntheticGroundTruth
from worldstereo.eval.camera_metrics import camera_metrics
from worldstereo.eval.image_metrics import masked_scores, psnr, ssim
from worldstereo.pipelines.api import WorldStereo, bundled_models
from worldstereo.pipelines.video import read_frames

KINDS = ("object", "room", "outdoor")
SETTINGS = {"none": (False, False, "euler"), "ggm": (True, False, "euler"), "full": (True, True, "euler"),
            "dmd": (True, True, "dmd"), "dmd_none": (False, False, "dmd"), "warp": (True, True, None)}
REVISIT = {"right60": range(1, 6), "left60": range(1, 6)}


def held_out(root: Path, per_kind: int, size: int) -> list[Path]:
    folders = []
    for k, kind in enumerate(KINDS):
        for j in range(per_kind):
            seed = 90001 + 100 * k + j
            name = f"{kind}-{seed}"
            sample = render_sample(SampleSpec(kind, seed, seed, size, size, fov_deg=60.0), name)
            write_sample(sample, root / name)
            folders.append(root / name)
    return folders


def plan(ws: WorldStereo, folder: Path, n: int) -> list[CameraTrajectory]:
    state = ws.prepare(folder).state
    m = float(np.median(state.depth[state.depth > 0]))
    common = dict(K=state.K, width=state.width, height=state.height, n_frames=n)
    trajs = []
    for name, direction, deg in (("right40", "right", 40), ("left40", "left", 40), ("right60", "right", 60),
                                 ("left60", "left", 60)):
        t = rotate(direction, deg, m, **common)
        trajs.append(CameraTrajectory(t.cameras, name=name, kind=t.kind, fps=t.fps))
    return trajs


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


def score_run(run_dir: Path, folder: Path, ws: WorldStereo, learned: bool) -> dict:
    from worldstereo.data.samples import read_sample
    import imageio.v3 as iio

    from worldstereo.eval.poses import estimate_cameras

    gt = SyntheticGroundTruth.from_meta(read_sample(folder).meta)
    out = {}
    for d in sorted((run_dir / "trajectories").iterdir()):
        from worldstereo.camera import load_trajectory

        cams = load_trajectory(d / "cameras.json").cameras
        frames = read_frames(d / "frames").astype(np.float32) / 255.0
        masks = read_masks(d / "mask.mp4")
        truth, _ = gt.render(cams)
        rec = masked_scores(frames[1:], truth[1:], masks[1:])
        if d.name in REVISIT:
            idx = list(REVISIT[d.name])
            rec["psnr_revisited"] = psnr(frames[idx], truth[idx])
            rec["ssim_revisited"] = ssim(frames[idx], truth[idx])
        try:
            est = estimate_cameras(frames, cams.K[0], backend="pycolmap")
            rec["pycolmap_registered"] = est.registered_share
            if est.registered.all():
                rec["pycolmap"] = {k: v for k, v in camera_metrics(est.cameras, cams).items() if k in ("rot_err", "trans_err", "ate")}
        except Exception as exc:  # too few features on 64 px frames: report, never invent
            rec["pycolmap_error"] = str(exc).splitlines()[0][:120]
        if learned:
            renders = np.asarray(iio.imread(d / "render.mp4"), np.float32)[..., :3] / 255.0
            ph = pose_head_cameras(ws, frames, renders, masks, cams)
            rec["pose_head"] = {k: v for k, v in camera_metrics(ph, cams).items() if k in ("rot_err", "trans_err", "ate")}
        out[d.name] = rec
    return out


def timing(ws: WorldStereo, folder: Path, trajectory: CameraTrajectory, repeats: int = 3) -> dict:
    """Seconds per trajectory in the generator alone: 40-step teacher (CFG) vs 4-step DMD generator."""
    state = ws.prepare(folder).state
    req = state.request(trajectory, True, False)
    gen = ws.generator
    res = {}
    for sampler in ("euler", "dmd"):
        gen.sampler = sampler
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            gen.generate(req)
            times.append(time.perf_counter() - t0)
        res[sampler] = statistics.median(times)
    gen.sampler = "euler"
    res["speedup"] = res["euler"] / res["dmd"]
    return res


def mean(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def summarise(per_scene: dict) -> dict:
    rows = {}
    for setting, scenes in per_scene.items():
        trajs = [t for s in scenes.values() for t in s.values()]
        row = {k: mean([t.get(k) for t in trajs]) for k in ("psnr", "ssim", "psnr_visible", "psnr_disoccluded",
                                                             "psnr_revisited", "ssim_revisited")}
        for est in ("pycolmap", "pose_head"):
            got = [t[est] for t in trajs if est in t]
            row[f"{est}_trajectories"] = len(got)
            for k in ("rot_err", "trans_err", "ate"):
                row[f"{est}_{k}"] = mean([g[k] for g in got])
        rows[setting] = row
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(bundled_models()["worldstereo-tiny"]))
    ap.add_argument("--scenes", type=int, default=2, help="held-out scenes per kind")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--out", default=None)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    args = ap.parse_args()
    torch.set_num_threads(2)
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_tiny_"))
    folders = held_out(root / "scenes", args.scenes, args.size)
    model = WorldStereo.from_pretrained(args.model)
    warp = WorldStereo.from_pretrained("warp", max_side=max(model.generator.native))
    per_scene: dict = {}
    wall: dict = {}
    for setting in args.settings.split(","):
        use_ggm, use_ssm, sampler = SETTINGS[setting]
        ws = warp if sampler is None else model
        if sampler is not None:
            ws.generator.sampler = sampler
        per_scene[setting] = {}
        t0 = time.perf_counter()
        for folder in folders:
            run = ws.generate_scene(folder, plan(ws, folder, args.frames), output_dir=root / "runs" / setting / folder.name,
                                    resume=True, use_ggm=use_ggm, use_ssm=use_ssm)
            per_scene[setting][folder.name] = score_run(run.root, folder, ws, sampler is not None)
        wall[setting] = time.perf_counter() - t0
        model.generator.sampler = "euler"
    speed = timing(model, folders[0], plan(model, folders[0], args.frames)[0])
    print(json.dumps({"bench": "tiny_model", "model": args.model, "scenes": [f.name for f in folders],
                      "frames": args.frames, "summary": summarise(per_scene), "timing_s_per_trajectory": speed,
                      "wall_s": wall, "per_scene": per_scene, "out": str(root)}, default=float))


if __name__ == "__main__":
    main()
