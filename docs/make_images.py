"""Remake the trajectory plots of docs/trajectories.md: ``python docs/make_images.py``.

Every plot comes from ``worldstereo.camera.plot.plot_trajectories`` (what ``worldstereo trajectory
show`` draws), for a 832x480 camera with a 60 degree field of view and a scene 2 units away.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldstereo.camera import Cameras, default_plan, intrinsics_from_fov, preset, spline
from worldstereo.camera.plot import plot_trajectories

OUT = Path(__file__).resolve().parent / "images"
W, H, DEPTH, FRAMES = 832, 480, 2.0, 49


def main() -> None:
    OUT.mkdir(exist_ok=True)
    K = intrinsics_from_fov(60.0, W, H)

    def make(name: str, **options):
        return preset(name, DEPTH, K, W, H, FRAMES, **options)

    plot_trajectories(default_plan(DEPTH, K, W, H, FRAMES), OUT / "trajectory_default_plan.png",
                      title="default_plan: orbit -> up 45 -> right 90 -> left 90 (black dot: input camera)")
    plot_trajectories([make("up"), make("down"), make("left"), make("right")], OUT / "trajectory_rotations.png",
                      title="up / down 45 deg, left / right 90 deg about the pivot at the median depth")
    plot_trajectories([make("orbit"), make("dolly"), make("truck"), make("pan", yaw=30.0)],
                      OUT / "trajectory_moves.png", title="orbit (radius 0.3 x depth), dolly, truck, pan 30 deg")
    # key cameras: the input view, the end of a 30 degree "up" and the end of a 60 degree "right"
    ends = [make("up", degrees=30.0).cameras.cam_from_world[-1], make("right", degrees=60.0).cameras.cam_from_world[-1]]
    keys = Cameras(np.stack([K] * 3), np.stack([np.eye(4), *ends]), W, H)
    plot_trajectories([spline(keys, FRAMES)], OUT / "trajectory_spline.png",
                      title="spline through 3 key cameras (input, up 30, right 60)")
    for p in sorted(OUT.glob("trajectory_*.png")):
        print(p)


if __name__ == "__main__":
    main()
