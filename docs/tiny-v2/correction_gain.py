"""Gain of the model's hole corrections over warp's fill (least squares, and hole PSNR at gains 0-1.5), each
benchmark trajectory run alone on validation scenes (seeds 80001+) so model and warp see the same cache render.
usage (repo root): PYTHONPATH=src python docs/tiny-v2/correction_gain.py MODEL OUT [scenes per kind]"""
import sys, json, os
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, "benchmarks")
import bench_tiny_model as B
from worldstereo.pipelines.api import WorldStereo
from worldstereo.data.samples import read_sample, SampleSpec, render_sample, write_sample
from worldstereo.eval import SyntheticGroundTruth
from worldstereo.pipelines.video import read_frames
from worldstereo.camera import load_trajectory
torch.set_num_threads(1)
model_dir, out = sys.argv[1], Path(sys.argv[2]); per = int(sys.argv[3]) if len(sys.argv) > 3 else 2
ws = WorldStereo.from_pretrained(model_dir)
warp = WorldStereo.from_pretrained("warp", max_side=128)
alphas = np.linspace(0, 1.5, 7)
acc = {}
for k, kind in enumerate(B.KINDS):
    for j in range(per):
        seed = 80001 + 100 * k + j
        f = out / "scenes" / f"{kind}-{seed}"
        if not f.exists():
            write_sample(render_sample(SampleSpec(kind, seed, seed, 256, 256, fov_deg=60.0), f"{kind}-{seed}"), f)
        gt = SyntheticGroundTruth.from_meta(read_sample(f).meta)
        for tr in B.plan(ws, f, 13):
            fr = {}
            for name, w in (("model", ws), ("warp", warp)):
                run = w.generate_scene(f, [tr], output_dir=out / "runs" / name / f.name / tr.name, resume=True, use_ggm=True, use_ssm=True)
                d = sorted((run.root / "trajectories").iterdir())[0]
                fr[name] = read_frames(d / "frames").astype(np.float32)[1:] / 255.0
                if name == "model":
                    masks = B.read_masks(d / "mask.mp4")[1:]
                    cams = load_trajectory(d / "cameras.json").cameras
            truth = gt.render(cams)[0][1:]
            h = masks > 0.5
            m, wf, y = fr["model"][h], fr["warp"][h], truth[h]
            c = m - wf; e = y - wf
            a = acc.setdefault(tr.name, {"ce": 0.0, "cc": 0.0, "n": 0, "sse": np.zeros(len(alphas)), "all_n": 0, "sse_vis": 0.0})
            a["ce"] += float((c * e).sum()); a["cc"] += float((c * c).sum()); a["n"] += c.size
            a["sse"] += np.array([float(((wf + al * c - y) ** 2).sum()) for al in alphas])
            print(kind, seed, tr.name, "alpha*", float((c * e).sum() / max((c * c).sum(), 1e-9)), flush=True)
res = {}
for t, a in acc.items():
    res[t] = {"alpha_star": a["ce"] / a["cc"], "hole_psnr": {f"{al:.2f}": float(-10 * np.log10(s / a["n"])) for al, s in zip(alphas, a["sse"])}}
tot = {k: sum(a[k] for a in acc.values()) for k in ("ce", "cc", "n")}
sse = sum(a["sse"] for a in acc.values())
res["all"] = {"alpha_star": tot["ce"] / tot["cc"], "hole_psnr": {f"{al:.2f}": float(-10 * np.log10(s / tot["n"])) for al, s in zip(alphas, sse)}}
print(json.dumps(res, indent=1))
json.dump(res, open(out / "alpha.json", "w"), indent=1)
