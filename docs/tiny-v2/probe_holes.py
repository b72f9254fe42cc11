"""How much of a render's holes can a small learner predict beyond the `warp` backend's fill?

A measurement for MODEL_CARD.md, not part of the package. Training windows are cut from `worldstereo
train data` clips exactly as the base stage cuts them (StageSampler, the render of frame 0's points
with the warp backend's fills); the clips of the last ``--held-out`` scenes are kept for validation.
A small pixel-space U-Net (input: the filled render and its hole mask, output: a correction in the
holes, zero-initialised) is trained with MSE on the hole pixels only, and the PSNR in the holes of the
held-out windows is printed for the fill and for the net every 200 steps (JSON lines), so the curve
shows whether what it learns transfers to unseen scenes.

usage: PYTHONPATH=src python docs/tiny-v2/probe_holes.py CLIPS_DIR [--minutes 14] [--width 16] [--lr 1e-3]
       [--windows 1200] [--held-out 12]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from worldstereo.training.data import ClipShards, StageSampler


def windows(shards: ClipShards, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames 1.. of ``n`` base-stage windows: (filled, hole, truth), each (N, C, H, W), kept as uint8
    (a float copy of 1200 windows would not fit in memory beside a training run)."""
    sampler = StageSampler(shards, "base", 13, seed=seed, base_fill="warp")
    fs, ms, vs = [], [], []

    def u8(x: torch.Tensor) -> torch.Tensor:
        return (x[0, :, 1:].transpose(0, 1) * 255).round().to(torch.uint8)

    for i in range(n):
        b = sampler.batch(i, 1)
        fs.append(u8(b.filled))
        ms.append(b.hole[0, :, 1:].transpose(0, 1) > 0.5)
        vs.append(u8(b.video))
    return torch.cat(fs), torch.cat(ms), torch.cat(vs)


def as_float(x: torch.Tensor, m: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return x.float() / 255, m.float(), y.float() / 255


class HoleNet(nn.Module):
    """Two-level U-Net with dilated convolutions at 1/4 resolution (receptive field about 90 px)."""

    def __init__(self, c: int = 16):
        super().__init__()

        def conv(i: int, o: int, d: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=d, dilation=d), nn.GELU())

        self.e1 = nn.Sequential(conv(4, c), conv(c, c))
        self.e2 = nn.Sequential(nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GELU(), conv(2 * c, 2 * c))
        self.e3 = nn.Sequential(nn.Conv2d(2 * c, 3 * c, 4, 2, 1), nn.GELU(), conv(3 * c, 3 * c, 2),
                                conv(3 * c, 3 * c, 4), conv(3 * c, 3 * c, 8))
        self.d2 = nn.Sequential(conv(5 * c, 2 * c), conv(2 * c, 2 * c))
        self.d1 = nn.Sequential(conv(3 * c, c), nn.Conv2d(c, 3, 3, padding=1))
        nn.init.zeros_(self.d1[-1].weight)
        nn.init.zeros_(self.d1[-1].bias)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        a = self.e1(torch.cat([x, m], 1))
        b = self.e2(a)
        c = self.e3(b)
        u = self.d2(torch.cat([F.interpolate(c, scale_factor=2, mode="bilinear"), b], 1))
        return x + m * self.d1(torch.cat([F.interpolate(u, scale_factor=2, mode="bilinear"), a], 1))


def hole_psnr(pred: torch.Tensor, truth: torch.Tensor, m: torch.Tensor) -> float:
    """PSNR over all hole pixels (pooled squared error)."""
    se = float((((pred - truth) ** 2) * m).sum())
    return 10 * float(np.log10(float(m.sum()) * 3 / max(se, 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips")
    ap.add_argument("--minutes", type=float, default=14.0)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--windows", type=int, default=1200)
    ap.add_argument("--held-out", type=int, default=12, help="scenes (their clips) kept for validation")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    shards = ClipShards(a.clips)
    per_scene = int(shards.meta["config"]["clips_per_scene"])
    split = len(shards) - a.held_out * per_scene
    train, val = copy.copy(shards), copy.copy(shards)
    train.clips, val.clips = shards.clips[:split], shards.clips[split:]
    xt, mt, yt = windows(train, a.windows, seed=7)
    keep = mt.flatten(1).float().mean(1) > 0.02
    xt, mt, yt = xt[keep], mt[keep], yt[keep]
    xv, mv, yv = as_float(*windows(val, 48, seed=123))
    net = HoleNet(a.width)
    opt = torch.optim.AdamW(net.parameters(), a.lr)
    gen = torch.Generator().manual_seed(0)
    print(json.dumps({"train_scenes": split // per_scene, "held_out_scenes": a.held_out, "train_frames": len(xt),
                      "val_frames": len(xv), "val_hole_share": float(mv.mean()),
                      "params": sum(p.numel() for p in net.parameters())}), flush=True)
    t0, step, losses = time.time(), 0, []
    while time.time() - t0 < a.minutes * 60:
        idx = torch.randint(len(xt), (8,), generator=gen)
        x, m, y = as_float(xt[idx], mt[idx], yt[idx])
        if step % 2:
            x, m, y = x.flip(-1), m.flip(-1), y.flip(-1)
        loss = (((net(x, m) - y) ** 2) * m).sum() / (m.sum() * 3 + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        losses.append((loss.item(), float((((x - y) ** 2) * m).sum() / (m.sum() * 3 + 1))))
        if step % 200 == 0:
            with torch.no_grad():
                pv = torch.cat([net(xv[i:i + 32], mv[i:i + 32]).clamp(0, 1) for i in range(0, len(xv), 32)])
            tl = np.mean(losses[-200:], 0)
            print(json.dumps({"step": step, "wall_s": round(time.time() - t0),
                              "val_hole_psnr_fill": round(hole_psnr(xv, yv, mv), 3),
                              "val_hole_psnr_net": round(hole_psnr(pv, yv, mv), 3),
                              "train_hole_psnr_fill": round(10 * float(np.log10(1 / tl[1])), 3),
                              "train_hole_psnr_net": round(10 * float(np.log10(1 / tl[0])), 3)}), flush=True)


if __name__ == "__main__":
    main()
