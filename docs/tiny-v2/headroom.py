"""How much any method that starts from the cache render could gain over warp, on the runs of
correction_gain.py (OUT: each benchmark trajectory run alone on validation scenes, model and warp).

- visible pixels (the render covers them, so model and warp show the same render there): PSNR/SSIM
  of warp's frames, of the same with the visible pixels Gaussian-blurred, and with a 5x5 linear filter
  fitted by least squares on the visible pixels of half the frames (scored on the other half too);
- holes: PSNR/SSIM when the holes hold the TRUE frame blurred by sigma px (an oracle smooth fill: what a
  predictor of the holes' low frequencies alone would reach), per scene kind, against warp and the model.
Only frames whose camera stands in the scene's free space (SyntheticGroundTruth.in_free_space).

usage (repo root): PYTHONPATH=src python docs/tiny-v2/headroom.py OUT > docs/tiny-v2/headroom.json
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, "benchmarks")
import bench_tiny_model as B  # noqa: E402
from worldstereo.camera import load_trajectory  # noqa: E402
from worldstereo.data.samples import read_sample  # noqa: E402
from worldstereo.eval import SyntheticGroundTruth  # noqa: E402
from worldstereo.eval.image_metrics import ssim  # noqa: E402
from worldstereo.pipelines.video import read_frames  # noqa: E402

out = Path(sys.argv[1])
W, M, Y, H, kinds = [], [], [], [], []
for sc in sorted((out / "runs" / "warp").iterdir()):
    gt = SyntheticGroundTruth.from_meta(read_sample(out / "scenes" / sc.name).meta)
    for tdir in sorted(sc.iterdir()):
        d = sorted((tdir / "trajectories").iterdir())[0]
        dm = sorted((out / "runs" / "model" / sc.name / tdir.name / "trajectories").iterdir())[0]
        cams = load_trajectory(d / "cameras.json").cameras
        keep = np.flatnonzero(gt.in_free_space(cams)[1:]) + 1
        W.append(read_frames(d / "frames").astype(np.float32)[keep] / 255.0)
        M.append(read_frames(dm / "frames").astype(np.float32)[keep] / 255.0)
        H.append(B.read_masks(d / "mask.mp4")[keep])
        Y.append(gt.render(cams)[0][keep])
        kinds += [sc.name.split("-")[0]] * len(keep)
W, M, Y, H, kinds = (np.concatenate(W), np.concatenate(M), np.concatenate(Y), np.concatenate(H), np.array(kinds))
V = ~H


def psnr(err: np.ndarray) -> float:
    return float(-10 * np.log10(err.mean()))


def scores(P: np.ndarray) -> dict:
    e = (P - Y) ** 2
    row = {"psnr": psnr(e), "psnr_visible": psnr(e[V]), "psnr_holes": psnr(e[H]),
           "ssim": float(np.mean([ssim(P[i], Y[i]) for i in range(len(P))]))}
    for k in ("object", "room", "outdoor"):
        sel = kinds == k
        row[f"psnr_holes_{k}"] = psnr(e[sel][H[sel]])
    return row


res = {"frames": int(len(W)), "hole_share": float(H.mean()), "warp": scores(W), "model": scores(M)}
for s in (0.4, 0.6, 0.8, 1.0):
    blur = np.stack([cv2.GaussianBlur(f, (0, 0), s) for f in W])
    res[f"warp_visible_blur_{s}"] = scores(np.where(V[..., None], blur, W))

k, r = 5, 2


def taps(f: np.ndarray) -> np.ndarray:
    p = np.pad(f, ((r, r), (r, r), (0, 0)), mode="edge")
    h, w = f.shape[:2]
    return np.stack([p[i:i + h, j:j + w] for i in range(k) for j in range(k)], -1)  # h w c k*k


fit = np.arange(len(W)) % 2 == 0
A = np.concatenate([taps(W[i])[V[i]].reshape(-1, k * k) for i in np.flatnonzero(fit)])
b = np.concatenate([Y[i][V[i]].reshape(-1) for i in np.flatnonzero(fit)])
coef = np.linalg.lstsq(np.concatenate([A, np.ones((len(A), 1), np.float32)], 1), b, rcond=None)[0]
F = np.stack([np.where(V[i][..., None], np.clip(taps(W[i]) @ coef[:-1] + coef[-1], 0, 1), W[i]) for i in range(len(W))])
res["warp_visible_ls_5x5"] = scores(F)
e0, e1 = (W - Y) ** 2, (F - Y) ** 2
res["warp_visible_ls_5x5"]["psnr_visible_held_out_half"] = psnr(e1[~fit][V[~fit]])
res["warp_visible_ls_5x5"]["warp_psnr_visible_held_out_half"] = psnr(e0[~fit][V[~fit]])
for s in (1, 2, 4, 8, 16):
    blur = np.stack([cv2.GaussianBlur(y, (0, 0), s) for y in Y])
    res[f"oracle_holes_true_blur_{s}"] = scores(np.where(H[..., None], blur, W))
print(json.dumps(res, indent=1))
