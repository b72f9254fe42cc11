"""The multi-trajectory pipeline on a synthetic sample with the `warp` generator, GGM on vs off.

Prints one JSON line: per-trajectory PSNR/SSIM against the ground-truth renders (all pixels,
cache-visible, disoccluded), hole share of the condition render, cache size, frames the cache
refused to merge, the plan's free-space scale per preset and wall time per setting. Usage: python benchmarks/bench_pipeline.py [--side 256] [--frames 21] [--sample object]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from worldstereo.pipelines.api import WorldStereo


def run(sample: str, side: int, frames: int, use_ggm: bool, root: Path) -> dict:
    ws = WorldStereo.from_pretrained("warp", max_side=side)
    t0 = time.perf_counter()
    out = ws.generate_scene(sample, output_dir=root / ("ggm" if use_ggm else "no_ggm"), resume=False,
                            use_ggm=use_ggm, n_frames=frames)
    seconds = time.perf_counter() - t0
    per = {}
    for name in out.names:
        e = out.record["trajectories"][name]
        m = e["metrics"]
        per[name] = {k: round(m[k], 3) for k in ("psnr", "ssim", "psnr_visible", "psnr_disoccluded",
                                                 "cameras_in_free_space")}
        per[name].update(hole_share=round(e["hole_share"], 4), cache_points=e["cache_points"],
                         rejected_frames=e["rejected_frames"])
    return {"seconds": round(seconds, 1), "plan_scale": out.record.get("plan_scale"), "trajectories": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", default="object")
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--frames", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        on = run(args.sample, args.side, args.frames, True, Path(tmp))
        off = run(args.sample, args.side, args.frames, False, Path(tmp))
    delta = {n: round(on["trajectories"][n]["psnr"] - off["trajectories"][n]["psnr"], 3) for n in on["trajectories"]}
    print(json.dumps({"bench": "pipeline_warp_ggm", "sample": args.sample, "side": args.side, "frames": args.frames,
                      "ggm_on": on, "ggm_off": off, "psnr_gain_ggm_db": delta}))


if __name__ == "__main__":
    main()
