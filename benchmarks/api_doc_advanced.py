"""The reconstruction API document's "Advanced Reconstruction Options" example, run as written on a
9-frame generated video (the bundled object sample, warp generator, orbit, every second frame), printing
its wall time, quality metrics and mesh size as JSON.

    PYTHONPATH=src python benchmarks/api_doc_advanced.py OUTDIR        # as written (10000 iterations cap)
    ITERS=300 PYTHONPATH=src python benchmarks/api_doc_advanced.py OUTDIR   # fewer iterations
    T=2 ... (threads, default 1); METHOD=mvs|neural (default hybrid, the document's)
"""
import json, sys, time, os
from pathlib import Path
d = Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True); os.chdir(d)
import logging; logging.basicConfig(level=logging.INFO)
import torch; torch.set_num_threads(int(os.environ.get("T", "1")))
from worldstereo import WorldStereo
from worldstereo.camera import CameraTrajectory, save_trajectory, load_trajectory
if not Path("video.mp4").exists():
    video = WorldStereo.from_pretrained("warp", max_side=96).generate("object", "orbit")
    video.frames = video.frames[::2][:9]; video.cameras = video.cameras[::2][:9]
    video.save("video.mp4"); save_trajectory(CameraTrajectory(video.cameras, name="orbit"), "trajectory.json")
trajectory = load_trajectory("trajectory.json")
from worldstereo.reconstruction import reconstruct_scene, ReconstructionConfig
t0 = time.time()
config = ReconstructionConfig(method=os.environ.get("METHOD", "hybrid"), resolution=1024, depth_estimation=True, point_cloud_density="high",
    neural_iterations=int(os.environ.get("ITERS", "10000")), neural_batch_size=8192, mvs_min_views=3, mvs_geometric_consistency=True,
    mesh_cleanup=True, outlier_removal=True, smoothing_iterations=5)
if os.environ.get("TOL"): config.neural_convergence_tol = float(os.environ["TOL"])
scene = reconstruct_scene(video_path="video.mp4", camera_trajectory=trajectory, output_path="./reconstruction", config=config)
m = scene.metadata["quality_metrics"]
print(json.dumps({"wall_s": time.time() - t0, "metrics": m, "vertices": len(scene.mesh.vertices),
                  "iterations": scene.metadata.get("neural", scene.metadata.get("parameters", {}))}, default=str, indent=1))
