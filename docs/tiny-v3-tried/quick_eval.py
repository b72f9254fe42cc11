"""Quick held-out check: model vs warp on right/left 40 deg, 1 scene per kind. usage: quick_eval.py MODEL OUT [sampler]"""
import sys, json, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, "benchmarks")
import bench_tiny_model as B
from worldstereo.pipelines.api import WorldStereo
from worldstereo.data.samples import read_sample
from worldstereo.eval import SyntheticGroundTruth
from worldstereo.eval.image_metrics import masked_scores
from worldstereo.pipelines.video import read_frames
from worldstereo.camera import load_trajectory
from PIL import Image
model_dir, out = sys.argv[1], Path(sys.argv[2])
sampler = sys.argv[3] if len(sys.argv) > 3 else "euler"
torch.set_num_threads(1)
import os
SEED0 = int(os.environ.get("SEED0", "0"))
if SEED0:
    from worldstereo.data.samples import SampleSpec, render_sample, write_sample
    folders = []
    for k, kind in enumerate(B.KINDS):
        for j in range(int(os.environ.get("PER", "1"))):
            seed = SEED0 + 100 * k + j
            smp = render_sample(SampleSpec(kind, seed, seed, 128, 128, fov_deg=60.0), f"{kind}-{seed}")
            write_sample(smp, out / "scenes" / f"{kind}-{seed}"); folders.append(out / "scenes" / f"{kind}-{seed}")
else:
    folders = B.held_out(out / "scenes", 1, 128)
ws = WorldStereo.from_pretrained(model_dir); ws.generator.sampler = sampler
import os
ws.generator.base_fill = os.environ.get("FILL", "telea")
if os.environ.get("STEPS"): ws.generator.model.config.scheduler.teacher_steps = int(os.environ["STEPS"])
if os.environ.get("GUIDE"): ws.generator.model.config.scheduler.guidance_scale = float(os.environ["GUIDE"])

warp = WorldStereo.from_pretrained("warp", max_side=128)
res = {}; rows = []
def grad(x):
    return float((np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean()))
for name, w in ((("model", ws), ("warp", warp)) if len(sys.argv) < 5 else (("model", ws),)):
    recs = []; t0 = time.time()
    for f in folders:
        tr = B.plan(w, f, 13)[:2]
        run = w.generate_scene(f, tr, output_dir=out / "runs" / name / f.name, resume=False, use_ggm=True, use_ssm=False)
        gt = SyntheticGroundTruth.from_meta(read_sample(f).meta)
        for d in sorted((run.root / "trajectories").iterdir()):
            cams = load_trajectory(d / "cameras.json").cameras
            fr = read_frames(d / "frames").astype(np.float32) / 255.0
            masks = B.read_masks(d / "mask.mp4")
            truth, _ = gt.render(cams)
            r = masked_scores(fr[1:], truth[1:], masks[1:]); r["grad_ratio"] = grad(fr[1:]) / grad(truth[1:])
            recs.append(r)
            if name == "model" or True:
                rows.append((f"{name}-{f.name}-{d.name}", fr, truth))
    res[name] = {k: float(np.mean([r[k] for r in recs if r.get(k) is not None])) for k in ("psnr", "ssim", "psnr_visible", "psnr_disoccluded", "grad_ratio")}
    res[name]["wall"] = time.time() - t0
print(json.dumps(res, indent=1))
# contact sheet: truth row then model row then warp row per scene/traj
sheet = []
keys = [r for r in rows if r[0].startswith("model")]
for r in keys:
    wr = ([x for x in rows if x[0] == r[0].replace("model", "warp", 1)] or [r])[0]
    sheet.append(np.concatenate(list(r[2]), 1)); sheet.append(np.concatenate(list(r[1]), 1)); sheet.append(np.concatenate(list(wr[1]), 1))
img = (np.clip(np.concatenate(sheet, 0), 0, 1) * 255).astype(np.uint8)
Image.fromarray(img).save(out / "sheet.png")
