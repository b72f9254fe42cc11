"""Over the runs of correction_gain.py (OUT): PSNR (holes, all) and SSIM when the model's hole corrections of
warp's fill are scaled by a gain and blurred (Gaussian sigma px, optional feathered hole edge r px).
usage (repo root): PYTHONPATH=src python docs/tiny-v2/correction_smoothing.py OUT"""
import sys, json
from pathlib import Path
import numpy as np, cv2
sys.path.insert(0, "benchmarks")
import bench_tiny_model as B
from worldstereo.data.samples import read_sample
from worldstereo.eval import SyntheticGroundTruth
from worldstereo.eval.image_metrics import ssim as ssim_fn
from worldstereo.pipelines.video import read_frames
from worldstereo.camera import load_trajectory
out = Path(sys.argv[1])
alphas = [1.0, 1.5, 2.0]; sigmas = [(4,0),(8,0),(8,4),(16,0),(16,8),(4,4)]
sse = np.zeros((len(alphas), len(sigmas))); sse_all = np.zeros_like(sse); ss = np.zeros_like(sse); n_h = 0; n_all = 0; n_f = 0
sse_w_all = 0.0; ss_w = 0.0
for sc in sorted((out / "runs" / "model").iterdir()):
    gt = SyntheticGroundTruth.from_meta(read_sample(out / "scenes" / sc.name).meta)
    for tdir in sorted(sc.iterdir()):
        d = sorted((tdir / "trajectories").iterdir())[0]
        dw = sorted((out / "runs" / "warp" / sc.name / tdir.name / "trajectories").iterdir())[0]
        m = read_frames(d / "frames").astype(np.float32)[1:] / 255.0
        f = read_frames(dw / "frames").astype(np.float32)[1:] / 255.0
        h = (B.read_masks(d / "mask.mp4")[1:] > 0.5)
        cams = load_trajectory(d / "cameras.json").cameras
        y = gt.render(cams)[0][1:]
        c = m - f
        n_h += int(h.sum()) * 3; n_all += y.size; n_f += len(y)
        sse_w_all += float(((f - y) ** 2).sum()); ss_w += sum(float(ssim_fn(f[i], y[i])) for i in range(len(y)))
        for j, s in enumerate(sigmas):
            sg, r = s
            cs = np.stack([cv2.GaussianBlur(ci, (0, 0), sg) for ci in c])
            if r:
                wgt = np.stack([np.minimum(1, cv2.distanceTransform(hi.astype(np.uint8), cv2.DIST_L2, 5) / r) for hi in h])
            else:
                wgt = h.astype(np.float32)
            cs = cs * wgt[..., None]
            for i, a in enumerate(alphas):
                p = np.clip(f + a * cs, 0, 1)
                e = (p - y) ** 2
                sse[i, j] += float(e[h].sum()); sse_all[i, j] += float(e.sum())
                ss[i, j] += sum(float(ssim_fn(p[k], y[k])) for k in range(len(y)))
print("warp all", -10*np.log10(sse_w_all/n_all), "ssim", ss_w/n_f)
for i, a in enumerate(alphas):
    for j, s in enumerate(sigmas):
        print(f"alpha {a} sigma {s}: holes {-10*np.log10(sse[i,j]/n_h):.3f} all {-10*np.log10(sse_all[i,j]/n_all):.3f} ssim {ss[i,j]/n_f:.4f}")
