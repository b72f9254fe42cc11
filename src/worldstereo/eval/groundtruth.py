"""Ground truth for runs on synthetic samples: the true frames along any trajectory.

A bundled sample records its scene (kind, seed) and where the input camera stands in it, so the
pipeline can render what each generated frame should have shown and report PSNR/SSIM per
trajectory (all pixels, pixels the cache covered, disoccluded pixels).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..camera import Cameras
from .image_metrics import masked_scores


class SyntheticGroundTruth:
    """Renders the sample's synthetic scene at cameras given in the run's world frame."""

    def __init__(self, kind: str, seed: int, ours_from_scene: np.ndarray):
        from ..data.synthetic import make_scene

        self.scene = make_scene(seed, kind)
        self.ours_from_scene = np.asarray(ours_from_scene, dtype=np.float64)

    @classmethod
    def from_meta(cls, meta: dict) -> Optional["SyntheticGroundTruth"]:
        """From a sample's ``meta.json``; None when it does not describe a synthetic scene."""
        scene, cam = meta.get("scene"), meta.get("camera", {})
        if not scene or "seed" not in scene or "kind" not in scene:
            return None
        if "cam_from_world_in_scene" in cam:  # perspective sample: our world = the input camera
            ours_from_scene = np.asarray(cam["cam_from_world_in_scene"], dtype=np.float64)
        elif "center_in_scene" in cam:  # panorama: our world = the panorama centre, scene axes
            ours_from_scene = np.eye(4)
            ours_from_scene[:3, 3] = -np.asarray(cam["center_in_scene"], dtype=np.float64)
        else:
            return None
        return cls(scene["kind"], int(scene["seed"]), ours_from_scene)

    def render(self, cameras: Cameras) -> tuple[np.ndarray, np.ndarray]:
        """True frames (N, H, W, 3) and z-depth (N, H, W) at ``cameras`` (run world frame)."""
        from ..data.synthetic import render

        out = render(self.scene, cameras.transformed(self.ours_from_scene))
        return out.frames.astype(np.float32), out.depth.astype(np.float32)

    def scores(self, frames: np.ndarray, cameras: Cameras, hole_masks: np.ndarray) -> dict:
        """PSNR/SSIM of generated frames 1..N-1 against the truth, overall and split by the cache's
        hole mask (visible vs. disoccluded). Frame 0 is the input itself and is left out."""
        truth, _ = self.render(cameras)
        out = masked_scores(frames[1:], truth[1:], np.asarray(hole_masks[1:]) > 0.5)
        out["cameras_in_free_space"] = float(self.in_free_space(cameras).mean())
        return out

    def in_free_space(self, cameras: Cameras) -> np.ndarray:
        """(N,) True where a camera stands in the scene's free space (0.05 m clear of every surface).
        A camera inside a wall, an object or above a room's ceiling sees the inside or the back of the
        geometry: its true frame is not a view of the scene anyone could generate."""
        centers = cameras.transformed(self.ours_from_scene).centers
        return np.asarray(self.scene.is_free(centers, 0.05), bool)
