"""SSM retrieval speed: 21 target cameras against a 1,000-frame bank. Prints one JSON line.

Times ``MemoryBank.retrieve`` (F = 21 / 4 sampled targets, volumetric overlap, coarse-to-fine) and,
side by side in the same run, the official box-IoU scoring and a plain full-sample volumetric
scoring of every (bank, target) pair (the baseline the coarse-to-fine path replaces). Also checks
that coarse-to-fine picks the same frames as the plain full scoring.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.geometry import angle_penalty, frustum_overlap, view_angles
from worldstereo.memory import MemoryBank
from worldstereo.memory.bank import FAR_FACTOR, NEAR_FACTOR, sample_targets


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=int, default=1000)
    ap.add_argument("--targets", type=int, default=21)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)

    W, H = 832, 480
    K = intrinsics_from_fov(70, W, H)
    rng = np.random.default_rng(0)
    img = np.zeros((H, W, 3), np.float32)
    bank = MemoryBank(scene_depth=3.0)
    for _ in range(args.bank):
        eye = rng.normal(size=3) * 0.6
        bank.add(img, Cameras(K, look_at(eye, eye + rng.normal(size=3) + [0, 0, 2]), W, H))
    angles = np.radians(np.linspace(0, 90, args.targets))
    targets = Cameras(K, np.stack([look_at((0.3 * np.sin(a), 0, 0.3 * np.cos(a)), (3 * np.sin(a), 0, 3 * np.cos(a))) for a in angles]), W, H)
    bank.retrieve(targets)  # warm-up (caches the bank's cameras and the sample set)

    t_ret = best_of(lambda: bank.retrieve(targets), args.repeats)
    t_all = best_of(lambda: bank.retrieve(targets, every=1), max(1, args.repeats // 3))
    t_box = best_of(lambda: bank.retrieve(targets, method="box"), args.repeats)
    res = bank.retrieve(targets)

    _, cams = next(iter(bank._groups().values()))
    sel = targets[sample_targets(len(targets), 4)]
    near, far = NEAR_FACTOR * bank.scene_depth, FAR_FACTOR * bank.scene_depth

    def plain():
        return frustum_overlap(cams, sel, near, far) * angle_penalty(view_angles(cams, sel))

    t_plain = best_of(plain, max(1, args.repeats // 3))
    same = float(np.mean(plain().argmax(0) == res.bank_indices))
    print(json.dumps({
        "bench": "retrieval",
        "bank_frames": args.bank, "targets": args.targets, "sampled_targets": int(len(res.target_indices)),
        "torch_threads": 1,
        "retrieve_volume_ms": round(t_ret * 1e3, 2),
        "retrieve_volume_all_targets_ms": round(t_all * 1e3, 2),
        "retrieve_box_ms": round(t_box * 1e3, 2),
        "baseline": "full 2048-sample volumetric overlap of every (bank, sampled target) pair",
        "baseline_ms": round(t_plain * 1e3, 2),
        "speedup_vs_baseline": round(t_plain / t_ret, 2),
        "same_choice_as_baseline": same,
        "goal_ms": 100,
    }))


if __name__ == "__main__":
    main()
