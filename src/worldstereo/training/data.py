"""Training batches from the synthetic clip shards, per stage (paper §3.2–3.4, App. D).

Every sample is a deterministic function of ``(seed, step, rank, slot)``, so the data position of a
run is its step number and a resumed run sees exactly the batches an uninterrupted one would.

What each stage gets (all in the first target camera's frame, the project's single-image convention):

- ``video`` (B, 3, F, H, W) the target window, frame 0 = the condition image;
- ``render``/``hole`` the camera-branch condition: the point cloud of frame 0 alone (``single``:
  base/camera/dmd/pose, Uni3C style) or of frame 0 plus 1–3 extra views of the clip masked with the
  App. D augmentations (``global``: ggm/ssm), splatted at every target camera; ``plucker`` the rays;
- ``ssm`` (ssm stage): every ``pair_stride``-th latent frame paired with a nearby frame of the same
  clip as its reference, pointmaps rendered from the cache of frame 0 + extra views + references and
  colour-coded with one normalisation (``memory.pointmaps.encode_xyz``); App. D dropout of single
  references and of the whole condition;
- ``pose`` (pose stage): ground-truth pointmaps X11, Xf1, Xff on the latent grid for JOG3R's L_rec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..camera import Cameras, plucker_rays
from ..data.augment import augment_extra_views
from ..data.datasets import INDEX_VERSION
from ..geometry import PointCloud, depth_to_points, render_points
from ..pipelines.generators.warp import warp_fill
from ..memory.pointmaps import BOUNDS_QUANTILE, encode_xyz

GLOBAL_STAGES = ("ggm", "ssm")


@dataclass
class SSMBatch:
    target_frames: torch.Tensor  # (P,) latent frames
    references: torch.Tensor  # (B, 3, P, H, W)
    target_pointmaps: torch.Tensor  # (B, 3, P, H, W)
    reference_pointmaps: torch.Tensor  # (B, 3, P, H, W)
    valid: torch.Tensor  # (B, P) bool


@dataclass
class PoseBatch:
    X11: torch.Tensor  # (B, P, 3, h, w)
    Xf1: torch.Tensor
    Xff: torch.Tensor
    valid: torch.Tensor  # (B, P, h, w) bool


@dataclass
class Batch:
    video: torch.Tensor  # (B, 3, F, H, W) in [0, 1]
    render: torch.Tensor  # (B, 3, F, H, W)
    hole: torch.Tensor  # (B, 1, F, H, W), 1 = hole
    plucker: torch.Tensor  # (B, 6, F, H, W)
    ssm: Optional[SSMBatch] = None
    pose: Optional[PoseBatch] = None
    filled: Optional[torch.Tensor] = None  # (B, 3, F, H, W): the render with the warp backend's fills

    def to(self, device: torch.device, dtype: torch.dtype = torch.float32) -> "Batch":
        def mv(x: torch.Tensor) -> torch.Tensor:
            return x.to(device, dtype) if x.is_floating_point() else x.to(device)

        ssm = None if self.ssm is None else SSMBatch(self.ssm.target_frames.to(device), mv(self.ssm.references),
                                                     mv(self.ssm.target_pointmaps), mv(self.ssm.reference_pointmaps),
                                                     self.ssm.valid.to(device))
        pose = None if self.pose is None else PoseBatch(mv(self.pose.X11), mv(self.pose.Xf1), mv(self.pose.Xff),
                                                        self.pose.valid.to(device))
        return Batch(mv(self.video), mv(self.render), mv(self.hole), mv(self.plucker), ssm, pose,
                     None if self.filled is None else mv(self.filled))


class ClipShards:
    """Read access to ``generate_clips`` output (all clips kept in memory: the tiny set is a few MB)."""

    def __init__(self, root: str | Path):
        path = Path(root)
        path = path / "index.json" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no clip index; make the training clips with 'worldstereo train data'")
        meta = json.loads(path.read_text())
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"{path}: clip index version {meta.get('version')!r}, expected {INDEX_VERSION}")
        self.meta = meta
        self.clips: list[dict[str, np.ndarray]] = []
        by_shard: dict[str, list[dict]] = {}
        for c in meta["clips"]:
            by_shard.setdefault(c["shard"], []).append(c)
        for shard, entries in by_shard.items():
            with np.load(path.parent / shard) as z:
                for c in entries:
                    self.clips.append({k: z[f"{c['key']}_{k}"] for k in ("frames", "depth", "K", "cam_from_world")})
        if not self.clips:
            raise ValueError(f"{path}: the index lists no clips")

    def __len__(self) -> int:
        return len(self.clips)


def _cams(K: np.ndarray, cam_from_world: np.ndarray, width: int, height: int) -> Cameras:
    return Cameras(K.astype(np.float64), cam_from_world.astype(np.float64), width, height)


def _cloud(frames: np.ndarray, depth: np.ndarray, cams: Cameras, idx: list[int],
           keep: Optional[list[np.ndarray]] = None) -> PointCloud:
    parts = []
    for j, i in enumerate(idx):
        d = depth[i] if keep is None or keep[j] is None else np.where(keep[j], depth[i], 0.0)
        parts.append(depth_to_points(d.astype(np.float32), cams[i], frames[i]))
    return PointCloud.concat(parts) if len(parts) > 1 else parts[0]


def _chw(x: np.ndarray) -> torch.Tensor:
    """(F, H, W, C) -> (C, F, H, W)."""
    x = x[..., None] if x.ndim == 3 else x
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(3, 0, 1, 2)


class StageSampler:
    """Batches of one stage: ``sampler.batch(step, batch_size, rank)``."""

    def __init__(self, shards: ClipShards, stage: str, num_frames: int, seed: int = 0, pair_stride: int = 4,
                 latent_factor: int = 4, temporal_factor: int = 1, extra_views: tuple[int, int] = (1, 3),
                 frame_dropout: float = 0.3, reference_dropout: float = 0.1, max_stride: int = 3,
                 base_fill: Optional[str] = None):
        if base_fill not in (None, "telea", "warp"):
            raise ValueError(f"training data: base_fill {base_fill!r}; choose 'telea' or 'warp'")
        self.base_fill = base_fill
        self.shards, self.stage, self.n = shards, stage, int(num_frames)
        self.seed, self.pair_stride, self.s, self.tf = seed, pair_stride, latent_factor, temporal_factor
        self.extra_views, self.frame_dropout, self.reference_dropout = extra_views, frame_dropout, reference_dropout
        length = min(len(c["frames"]) for c in shards.clips)
        if self.n > length:
            raise ValueError(f"training windows of {self.n} frames need clips of at least that many; these have {length}")
        self.max_stride = max(1, min(max_stride, (length - 1) // max(self.n - 1, 1)))

    def batch(self, step: int, batch_size: int, rank: int = 0) -> Batch:
        items = [self.sample(np.random.default_rng([self.seed, step, rank, k])) for k in range(batch_size)]
        video, render, hole, plucker = (torch.stack([it[k] for it in items]) for k in ("video", "render", "hole", "plucker"))
        ssm = pose = None
        if "ssm" in items[0]:
            ssm = SSMBatch(items[0]["ssm"]["target_frames"],
                           *(torch.stack([it["ssm"][k] for it in items]) for k in ("references", "tar_pm", "ref_pm", "valid")))
        if "pose" in items[0]:
            pose = PoseBatch(*(torch.stack([it["pose"][k] for it in items]) for k in ("X11", "Xf1", "Xff", "valid")))
        filled = torch.stack([it["filled"] for it in items]) if "filled" in items[0] else None
        return Batch(video, render, hole, plucker, ssm, pose, filled)

    # -- one sample -----------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict:
        clip = self.shards.clips[int(rng.integers(len(self.shards)))]
        L = len(clip["frames"])
        stride = int(rng.integers(1, self.max_stride + 1))
        span = (self.n - 1) * stride + 1
        start = int(rng.integers(0, L - span + 1))
        idx = start + stride * np.arange(self.n)
        if rng.random() < 0.5:  # play the clip backwards half the time: twice the motions
            idx = idx[::-1].copy()
        h, w = clip["frames"].shape[1:3]
        world_from_first = np.linalg.inv(clip["cam_from_world"][idx[0]])
        all_cams = _cams(clip["K"], clip["cam_from_world"] @ world_from_first, w, h)
        frames = clip["frames"].astype(np.float32) / 255.0
        depth = clip["depth"].astype(np.float32)
        cams = all_cams[idx]

        views, keeps = [int(idx[0])], [None]
        if self.stage in GLOBAL_STAGES:
            lo, hi = self.extra_views
            for i in rng.choice(L, size=int(rng.integers(lo, hi + 1)), replace=False):
                views.append(int(i))
                keeps.append(augment_extra_views(depth[i], rng)[1])
        cloud = _cloud(frames, depth, all_cams, views, keeps)
        ren = render_points(cloud, cams, h, w)
        out = {
            "video": _chw(frames[idx]),
            "render": _chw(ren.rgb.numpy()),
            "hole": _chw(ren.mask.numpy()),
            "plucker": plucker_rays(cams, h, w).permute(1, 0, 2, 3).contiguous(),
        }
        if self.base_fill == "warp":  # the fill the pipeline gives a render-based model (default_base_fill)
            filled = warp_fill(frames[idx[0]], ren.rgb.numpy(), ren.depth.numpy(), ren.mask.numpy(), cams)[0]
            out["filled"] = _chw(filled)
        if self.stage == "ssm":
            out["ssm"] = self._ssm(rng, clip, frames, depth, all_cams, idx, cloud)
        if self.stage == "pose":
            out["pose"] = self._pose(depth[idx], cams)
        return out

    def _ssm(self, rng: np.random.Generator, clip: dict, frames: np.ndarray, depth: np.ndarray, all_cams: Cameras,
             idx: np.ndarray, cloud: PointCloud) -> dict:
        h, w = frames.shape[1:3]
        L = len(frames)
        n_latent = (self.n - 1) // self.tf + 1
        latent = torch.arange(self.pair_stride, n_latent, self.pair_stride) if n_latent > self.pair_stride else torch.tensor([n_latent - 1])
        pixel = [min(int(k) * self.tf, self.n - 1) for k in latent]
        refs = []
        for p in pixel:  # a nearby frame of the same clip that sees much of what the target sees
            offset = int(rng.integers(1, 7)) * (1 if rng.random() < 0.5 else -1)
            refs.append(int(np.clip(idx[p] + offset, 0, L - 1)))
        valid = rng.random(len(refs)) >= self.frame_dropout
        if rng.random() < self.reference_dropout:
            valid[:] = False
        kept = [r for r, v in zip(refs, valid) if v]
        cache = PointCloud.concat([cloud, _cloud(frames, depth, all_cams, kept)]) if kept else cloud
        lo, hi = cache.bounds(BOUNDS_QUANTILE)
        tar = render_points(cache, all_cams[idx[pixel]], h, w)
        ref = render_points(cache, all_cams[refs], h, w)
        tar_pm = encode_xyz(tar.xyz.numpy(), tar.mask.numpy() > 0, lo, hi)
        ref_pm = encode_xyz(ref.xyz.numpy(), ref.mask.numpy() > 0, lo, hi)
        images = frames[refs].copy()
        images[~valid] = 0.0
        ref_pm[~valid] = 0.0
        return {"target_frames": latent.long(), "references": _chw(images), "tar_pm": _chw(tar_pm),
                "ref_pm": _chw(ref_pm), "valid": torch.from_numpy(valid)}

    def _pose(self, depth: np.ndarray, cams: Cameras) -> dict:
        """Ground-truth JOG3R pointmaps on the latent grid (centre pixel of every s×s cell)."""
        s, h, w = self.s, depth.shape[1] // self.s, depth.shape[2] // self.s
        d = depth[:, s // 2::s, s // 2::s][:, :h, :w]
        small = cams.resized(w, h)
        latent_frames = (self.n - 1) // self.tf + 1
        f_idx = [min(k * self.tf, self.n - 1) for k in range(1, latent_frames)]
        jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        pix = np.stack([jj.ravel(), ii.ravel()], -1)

        def own(i: int) -> np.ndarray:  # (H·W, 3) camera-frame points of frame i
            Kinv = np.linalg.inv(small.K[i])
            rays = np.concatenate([pix, np.ones((len(pix), 1))], 1) @ Kinv.T
            return rays * d[i].reshape(-1, 1)

        def to_first(i: int, x: np.ndarray) -> np.ndarray:  # frame i's points in frame 0's camera
            T = small.cam_from_world[0] @ np.linalg.inv(small.cam_from_world[i])
            return x @ T[:3, :3].T + T[:3, 3]

        def grid(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x.reshape(h, w, 3).transpose(2, 0, 1).astype(np.float32))

        x0 = grid(own(0))
        return {
            "X11": torch.stack([x0] * len(f_idx)),
            "Xf1": torch.stack([grid(to_first(i, own(i))) for i in f_idx]),
            "Xff": torch.stack([grid(own(i)) for i in f_idx]),
            "valid": torch.from_numpy(np.stack([d[i] > 0 for i in f_idx])),
        }
