"""Short experiment: velocity vs x-prediction for the tiny backbone (base stage, I2V), equal steps.

Trains the base-stage loss on synthetic clips for STEPS steps per variant on one thread, logs the loss
every 10 steps (log-<variant>.csv), then samples held-out clips (seeds no training clip uses) with 20
Euler steps and reports PSNR/SSIM vs truth and the image-gradient-energy ratio vs truth ("never noise").
Usage: PYTHONPATH=src python docs/tiny-v2/exp_prediction.py STEPS SIZE FRAMES
"""
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from worldstereo.data.datasets import ClipConfig, generate_clips  # noqa: E402
from worldstereo.models import WorldStereoModel, add_noise, flow_matching_loss, get_config  # noqa: E402
from worldstereo.models.schedulers import sample_euler, sample_training_sigma  # noqa: E402
from worldstereo.training.data import ClipShards, StageSampler  # noqa: E402
from worldstereo.training.stages import generated_mask  # noqa: E402

STEPS, SIZE, FRAMES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
OUT = Path(__file__).parent
TMP = Path("/tmp/wt-tiny-exp")


def clips(root, seed, n):
    if not (root / "index.json").is_file():
        generate_clips(root, ClipConfig(n_scenes=n, clips_per_scene=2, n_frames=16, width=SIZE, height=SIZE, seed=seed))
    return ClipShards(root)


def grad_energy(x):  # x (B, 3, F, H, W)
    return float(((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., 1:] - x[..., :-1]) ** 2).mean())


def ssim(a, b):  # global-window-free SSIM with 7x7 box windows, a/b (N, 3, H, W)
    import torch.nn.functional as F
    k = lambda x: F.avg_pool2d(x, 7, 1)  # noqa: E731
    ma, mb = k(a), k(b)
    va, vb, cov = k(a * a) - ma ** 2, k(b * b) - mb ** 2, k(a * b) - ma * mb
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))).mean())


def run(pred):
    torch.manual_seed(0)
    cfg = get_config("tiny")
    cfg.height = cfg.width = SIZE
    cfg.num_frames = FRAMES
    cfg.prediction = pred
    cfg.camera.enabled = cfg.ssm.enabled = cfg.pose.enabled = False
    model = WorldStereoModel(cfg).train()
    sampler = StageSampler(clips(TMP / f"train{SIZE}", 0, 12), "base", FRAMES, seed=0)
    opt = torch.optim.AdamW([p for p in model.parameters()], lr=1e-3, weight_decay=0.0)
    rows, t0 = [], time.time()
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (step + 1) / 50)
        b = sampler.batch(step, 4)
        gen = torch.Generator().manual_seed(step)
        x0 = model.codec.encode(b.video)
        from worldstereo.models import Conditioning
        cond = Conditioning(*model.image_condition(b.video[:, :, 0], FRAMES))
        noise = torch.randn(x0.shape, generator=gen)
        sigma = sample_training_sigma(x0.shape[0], cfg.scheduler.shift, gen)
        uncond = bool(torch.rand((), generator=gen) < 0.1)
        v = model(add_noise(x0, noise, sigma), sigma * 1000, cond, uncond).sample
        loss = flow_matching_loss(v, x0, noise, generated_mask(x0))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 10 == 0:
            rows.append({"step": step + 1, "loss": loss.item(), "elapsed_s": time.time() - t0})
    train_s = time.time() - t0
    with open(OUT / f"log-{pred}-{SIZE}px.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    model.eval()
    held = StageSampler(clips(TMP / f"held{SIZE}", 90001, 3), "base", FRAMES, seed=123).batch(0, 4)
    with torch.no_grad():
        cond = Conditioning(*model.image_condition(held.video[:, :, 0], FRAMES))
        x0 = model.codec.encode(held.video)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
        out = model.codec.decode(sample_euler(model.velocity_fn(cond), noise, 20, 2.0, cfg.scheduler.shift)).clamp(0, 1)
    truth = held.video
    mse = ((out[:, :, 1:] - truth[:, :, 1:]) ** 2).mean(dim=(1, 3, 4))
    psnr = float((-10 * torch.log10(mse.clamp_min(1e-10))).mean())
    flat = lambda x: x[:, :, 1:].transpose(1, 2).reshape(-1, 3, SIZE, SIZE)  # noqa: E731
    res = {"prediction": pred, "steps": STEPS, "size": SIZE, "frames": FRAMES, "s_per_step": train_s / STEPS,
           "loss_last50": float(np.mean([r["loss"] for r in rows[-5:]])), "psnr": psnr,
           "ssim": ssim(flat(out), flat(truth)), "grad_energy_ratio": grad_energy(out[:, :, 1:]) / grad_energy(truth[:, :, 1:]),
           "psnr_copy_frame0": float((-10 * torch.log10(((truth[:, :, :1] - truth[:, :, 1:]) ** 2).mean(dim=(1, 3, 4)))).mean())}
    np.save(TMP / f"samples-{pred}-{SIZE}.npy", out.numpy())
    np.save(TMP / f"truth-{SIZE}.npy", truth.numpy())
    print(json.dumps(res), flush=True)
    return res


if __name__ == "__main__":
    with open(OUT / "results.jsonl", "a") as f:
        for pred in ("velocity", "x"):
            f.write(json.dumps(run(pred)) + "\n")
