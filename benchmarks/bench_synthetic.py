"""Render 64 frames at 256x256 of a room scene (goal < 5 s on CPU); prints one JSON line.

Baseline measured in the same run: Open3D's bare ``cast_rays`` on the same rays, so
``ratio_vs_raycast`` is the cost of ray generation, texture lookup and packing on top of it.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch


def main() -> None:
    import open3d as o3d

    from worldstereo.camera import orbit
    from worldstereo.data.synthetic import camera_rays, make_scene, render

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    scene = make_scene(4, "room")
    start = scene.sample_camera(np.random.default_rng(0), 256, 256, 60.0)
    scene.raycaster  # build the BVH outside the timed render (it is cached per scene)
    build_s = time.perf_counter() - t0
    traj = orbit(scene.median_depth(start), 0.2, K=start.K[0], width=256, height=256, n_frames=64)
    cams = traj.cameras.transformed(start.cam_from_world[0])  # preset frame -> scene frame

    def best(fn, repeats=3):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    render_s = best(lambda: render(scene, cams))
    lambert_s = best(lambda: render(scene, cams, shading="lambert"))
    origins, dirs = camera_rays(cams)
    rays = o3d.core.Tensor(np.concatenate([origins, dirs], 1).astype(np.float32))
    raycast_s = best(lambda: scene.raycaster.cast_rays(rays))
    print(json.dumps({
        "benchmark": "synthetic_render", "frames": 64, "width": 256, "height": 256,
        "scene_triangles": int(len(scene.triangles)), "scene_build_s": round(build_s, 3),
        "render_s": round(render_s, 3), "render_lambert_s": round(lambert_s, 3),
        "raycast_only_s": round(raycast_s, 3), "ratio_vs_raycast": round(render_s / raycast_s, 2),
        "frames_per_s": round(64 / render_s, 1), "goal_s": 5.0, "meets_goal": render_s < 5.0,
    }))


if __name__ == "__main__":
    main()
