"""The reconstruction API document's "Advanced Reconstruction Options" example, run as written, timed
step by step (``scene.metadata["timings"]``) with its quality metrics.

Input: a 9-frame 96-px warp video of the bundled sample and its trajectory (as tests/test_recon_api_doc.py
makes them). ``--iterations`` replaces the document's ``neural_iterations=10000`` (the only change);
``--baseline`` runs main's neural field before issue 19 (``benchmarks/neural_baseline.py``) instead.

    PYTHONPATH=src python benchmarks/bench_api_advanced.py [--iterations N] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from test_recon_api_doc import ADVANCED  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--baseline", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from worldstereo import WorldStereo
    from worldstereo.camera import CameraTrajectory, load_trajectory, save_trajectory

    if args.baseline:
        import neural_baseline

        import worldstereo.reconstruction.neural as neural

        neural.fit_neural_surface = neural_baseline.fit_neural_surface
    code = ADVANCED if args.iterations is None else ADVANCED.replace("neural_iterations=10000", f"neural_iterations={args.iterations}")
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        video = WorldStereo.from_pretrained("warp", max_side=96).generate("object", "orbit")
        video.frames = video.frames[::2][:9]
        video.cameras = video.cameras[::2][:9]
        video.save("video.mp4")
        save_trajectory(CameraTrajectory(video.cameras, name="orbit"), "trajectory.json")
        ns = {"trajectory": load_trajectory("trajectory.json")}
        t, c = time.perf_counter(), time.process_time()
        exec(compile(code, "<api-doc advanced example>", "exec"), ns)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    scene = ns["scene"]
    print(json.dumps({
        "bench": "api_advanced", "neural": "baseline (main before issue 19)" if args.baseline else "this tree",
        "neural_iterations": args.iterations or 10000, "torch_threads": torch.get_num_threads(),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "timings_s": scene.metadata["timings"],
        "quality_metrics": {k: round(v, 4) for k, v in scene.metadata["quality_metrics"].items()},
        "vertices": int(len(scene.mesh.vertices)), "image_size": scene.metadata["parameters"]["image_size"],
        "voxel_size": round(scene.metadata["parameters"]["voxel_size"], 5),
    }))


if __name__ == "__main__":
    main()
