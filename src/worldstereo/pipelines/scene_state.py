"""The state a multi-trajectory run carries from one trajectory to the next: the Cache3D (GGM),
the memory bank (SSM) and the working-size input view.

Every step is a function of plain data and deterministic, so a resumed run rebuilds exactly this
state by replaying the finished trajectories' saved frames and depth (see ``scene.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

import cv2
import numpy as np

from ..camera import Cameras, CameraTrajectory
from ..geometry import equirect_to_views, panorama_views
from ..geometry.freespace import FreeSpace
from ..memory import Cache3D, MemoryBank, clip_keyframes
from .generators.base import GenerationRequest, References

log = logging.getLogger(__name__)

SSM_EVERY = 4  # paper §3.3: one reference for every 4th target pose


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float -> (height, width, 3); area filter when shrinking."""
    if image.shape[:2] == (height, width):
        return image.astype(np.float32)
    interp = cv2.INTER_AREA if height < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image.astype(np.float32), (width, height), interpolation=interp)


def resize_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize that samples at the new pixel centres (j + 0.5) * scale.

    Averaging depth across an edge invents surfaces, so no interpolation; and OpenCV's
    INTER_NEAREST samples at j * scale instead, shifting the map by up to half an output pixel
    against the image and K.
    """
    if depth.shape == (height, width):
        return depth.astype(np.float32)
    h0, w0 = depth.shape
    rows = np.minimum(((np.arange(height) + 0.5) * h0 / height).astype(np.int64), h0 - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w0 / width).astype(np.int64), w0 - 1)
    return depth[rows[:, None], cols[None, :]].astype(np.float32)


@dataclass
class SceneState:
    """The memories of one scene at the working size ``height x width`` with intrinsics ``K``.

    ``initial_cache`` is the input view alone: the condition of a run without GGM (camera-only
    control, as Uni3C renders the single-view point cloud).
    """

    image: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    cache: Cache3D
    initial_cache: Cache3D
    bank: MemoryBank
    median_depth: float
    steps: list[dict] = field(default_factory=list)
    plan_scales: dict = field(default_factory=dict)
    observers: list[Cameras] = field(default_factory=list)  # every view the memories hold (the free-space carve)
    _free_space: Optional[FreeSpace] = field(default=None, repr=False)

    @property
    def height(self) -> int:
        return self.image.shape[0]

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def input_camera(self) -> Cameras:
        return Cameras.identity(self.K, self.width, self.height)

    @property
    def free_space(self) -> FreeSpace:
        """Where cameras may go as far as the input tells (planes of the initial cache)."""
        if self._free_space is None:
            self._free_space = FreeSpace.from_points(self.initial_cache.points.xyz, self.median_depth)
        return self._free_space

    def clear_of_surfaces(self, name: str, make: Callable[[float], CameraTrajectory]) -> CameraTrajectory:
        """``make(depth)`` -- a trajectory whose camera distances scale with ``depth`` (a preset's
        pivot) -- at the median depth (the paper's App. C), brought nearer, with every camera
        distance, when that would carry the camera through a surface the input view sees (a wall or
        floor extended beyond the image). The factor is kept in ``plan_scales[name]`` (1 = as asked)."""
        traj = make(self.median_depth)
        s = self.free_space.scale(traj.cameras.centers)
        if s < 1.0:
            log.info("trajectory %s: pivot brought from %.3g to %.3g (x%.2f) to stay clear of the surfaces "
                     "the input sees", name, self.median_depth, s * self.median_depth, s)
            traj = make(s * self.median_depth)
        self.plan_scales[name] = round(s, 4)
        return traj

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_image(cls, image: np.ndarray, depth: np.ndarray, K: np.ndarray) -> "SceneState":
        """World = the input camera; the cache starts as the unprojected input view."""
        cam = Cameras.identity(K, image.shape[1], image.shape[0])
        cache = Cache3D.from_image(image, depth, cam)
        bank = MemoryBank(scene_depth=cache.scene_depth)
        bank.add(image, cam, depth, source="input", index=0)
        state = cls(image, depth, np.asarray(K, np.float64), cache, Cache3D.from_image(image, depth, cam), bank,
                    cache.scene_depth)
        state.observers.append(cam)
        state.steps.append({"after": "input", "points": len(cache), "added": len(cache), "rejected_frames": 0})
        return state

    @classmethod
    def from_panorama(cls, pano: np.ndarray, distance: np.ndarray, height: int, width: int,
                      fov_x: float = 90.0) -> "SceneState":
        """World = the panorama centre (OpenCV axes of its forward view). The input view for the
        trajectories is the forward perspective crop; the bank starts with the 27 panorama views."""
        from ..camera import intrinsics_from_fov

        cache = Cache3D.from_panorama(pano, distance)
        K = intrinsics_from_fov(fov_x, width, height)
        cam = Cameras.identity(K, width, height)
        image = equirect_to_views(pano, cam)[0].astype(np.float32)
        ren = cache.render(cam)
        depth = ren.depth[0].numpy().astype(np.float32)
        views = panorama_views(width=width, height=height)
        bank = MemoryBank(scene_depth=cache.scene_depth)
        view_images = equirect_to_views(pano, views)
        view_depth = cache.render(views).depth.numpy()
        for i in range(len(views)):
            bank.add(view_images[i].astype(np.float32), views[i], view_depth[i], source="panorama", index=i)
        initial = Cache3D.from_panorama(pano, distance)
        state = cls(image, depth, K, cache, initial, bank, cache.scene_depth)
        state.observers.append(views)
        state.steps.append({"after": "input", "points": len(cache), "added": len(cache), "rejected_frames": 0})
        return state

    # -- conditions -----------------------------------------------------------------------------
    def request(self, traj: CameraTrajectory, use_ggm: bool = True, use_ssm: bool = True, steps: Optional[int] = None,
                guidance: Optional[float] = None, seed: int = 0, ssm_every: int = SSM_EVERY) -> GenerationRequest:
        """Steps 1–3 of DESIGN §3 for one trajectory: cache renders, retrieval (one reference for every
        ``ssm_every``-th target), pointmaps."""
        cams = traj.cameras
        if (cams.width, cams.height) != (self.width, self.height):
            cams = cams.resized(self.width, self.height)
        source = self.cache if use_ggm else self.initial_cache
        ren = source.render(cams)
        refs = self.references(cams, ssm_every) if use_ssm else None
        return GenerationRequest(
            image=self.image, cameras=cams, renders=ren.rgb.numpy(), render_depth=ren.depth.numpy(),
            masks=ren.mask.numpy(), references=refs, steps=steps, guidance=guidance, seed=seed,
        )

    def references(self, cams: Cameras, every: int = SSM_EVERY) -> Optional[References]:
        """For every ``every``-th target (4th by default), the bank frame of largest frustum overlap,
        with pointmaps."""
        if len(self.bank) == 0:
            return None
        r = self.bank.retrieve(cams, every=every)
        images = np.stack([resize_image(self.bank.frames[int(b)].image, self.height, self.width) for b in r.bank_indices])
        ref_cams = Cameras.concat([self.bank.frames[int(b)].camera.resized(self.width, self.height) for b in r.bank_indices])
        tgt_pm, ref_pm = self.bank.pointmaps(self.cache, cams[r.target_indices], r.bank_indices)
        return References(r.target_indices, images, ref_cams, tgt_pm, ref_pm, r.bank_indices, r.scores)

    # -- growth ---------------------------------------------------------------------------------
    def update(self, name: str, frames: np.ndarray, depth: Optional[np.ndarray], cameras: Cameras,
               use_ggm: bool = True, use_ssm: bool = True, confidence: Optional[np.ndarray] = None,
               derived: bool = False) -> dict:
        """Steps 5–6: keyframes into the bank; their depth aligned and merged into the cache
        (weighted by the generator's per-pixel ``confidence``, as soft points when ``derived``)."""
        if (cameras.width, cameras.height) != (self.width, self.height):
            cameras = cameras.resized(self.width, self.height)
        frames = np.asarray(frames, dtype=np.float32)
        if use_ssm:
            self.bank.add_clip(frames, cameras, depths=depth, source=name)
        keys = clip_keyframes(len(frames))
        self.observers.append(cameras[keys])
        step = {"after": name, "points_before": len(self.cache), "keyframes": [int(k) for k in keys]}
        if use_ggm and depth is not None:
            weights = None if confidence is None else np.asarray(confidence, np.float32)[keys]
            aligns = self.cache.add_frames(frames[keys], depth[keys], cameras[keys], weights=weights, soft=derived)
            ok = [a for a in aligns if a.accepted]
            step.update({
                "soft": bool(derived),
                "rejected_frames": len(aligns) - len(ok),
                "rejections": [a.reason for a in aligns if not a.accepted],
                "inlier_ratio": float(np.mean([a.inlier_ratio for a in ok])) if ok else None,
                "rmse": float(np.mean([a.rmse for a in ok])) if ok else None,
            })
        else:
            step["rejected_frames"] = 0
        step["points"] = len(self.cache)
        step["added"] = step["points"] - step["points_before"]
        self.steps.append(step)
        return step

