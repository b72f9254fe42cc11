"""Training data from the synthetic engine: clip shards, SSM pairs and a torch ``Dataset``.

``generate_clips`` renders N scenes x K random smooth trajectories (the camera presets with
randomised amplitudes, collision-checked against the scene) into compressed ``.npz`` shards, one
per scene, with keys ``clip{j}_frames`` (F, H, W, 3) uint8, ``clip{j}_depth`` (F, H, W) float32
z-depth in metres, ``clip{j}_K`` (F, 3, 3) and ``clip{j}_cam_from_world`` (F, 4, 4) float64 in the
scene's world frame, plus ``index.json`` listing every clip. :class:`ClipDataset` reads them back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path, atomic_write_json
from ..camera import Cameras, CameraTrajectory, dolly, orbit, pan, rotate, truck
from .synthetic import make_scene, render
from .synthetic.world import Scene

log = logging.getLogger(__name__)

INDEX_VERSION = 1
PRESETS = ("orbit", "rotate", "dolly", "truck", "pan")


@dataclass(frozen=True)
class ClipConfig:
    """What ``generate_clips`` renders."""

    n_scenes: int = 4
    """number of scenes (one shard each); kinds cycle through ``kinds``"""
    clips_per_scene: int = 2
    """random trajectories rendered per scene"""
    n_frames: int = 24
    """frames per clip"""
    width: int = 64
    """image width in pixels"""
    height: int = 64
    """image height in pixels"""
    kinds: tuple[str, ...] = ("room", "object", "outdoor")
    """scene kinds of ``make_scene``"""
    presets: tuple[str, ...] = PRESETS
    """trajectory presets to draw from"""
    fov_deg: tuple[float, float] = (50.0, 75.0)
    """range of the horizontal field of view"""
    shading: str = "none"
    """``"none"`` (unlit) or ``"lambert"``"""
    seed: int = 0
    """master seed: the same config always writes the same shards"""
    margin: float = field(default=0.15)
    """clearance in metres every camera centre keeps from the scene's surfaces"""

    def __post_init__(self) -> None:
        for name in ("n_scenes", "clips_per_scene", "width", "height"):
            if getattr(self, name) < 1:
                raise ValueError(f"ClipConfig.{name}: must be >= 1, got {getattr(self, name)}")
        if self.n_frames < 2:
            raise ValueError(f"ClipConfig.n_frames: must be >= 2, got {self.n_frames}")
        bad = [p for p in self.presets if p not in PRESETS]
        if bad or not self.presets:
            raise ValueError(f"ClipConfig.presets: {bad or 'empty'}; choose from {PRESETS}")


def random_trajectory(scene: Scene, start: Cameras, preset: str, rng: np.random.Generator, n_frames: int,
                      amplitude: float = 1.0) -> CameraTrajectory:
    """A preset trajectory from ``start`` with random amplitudes (scaled by ``amplitude``), in the
    scene's world frame. Amplitudes are relative to the median depth the start camera sees."""
    m = scene.median_depth(start)
    common = dict(K=start.K[0], width=start.width, height=start.height, n_frames=n_frames)
    a = amplitude
    if preset == "orbit":
        traj = orbit(m, a * rng.uniform(0.08, 0.3), **common)
    elif preset == "rotate":
        direction = ("left", "right", "up", "down")[rng.integers(4)]
        limit = 60.0 if direction in ("left", "right") else 25.0
        traj = rotate(direction, a * rng.uniform(10.0, limit), m, **common)
    elif preset == "dolly":
        traj = dolly(a * rng.uniform(-0.4, 0.4) * m, **common)
    elif preset == "truck":
        traj = truck(a * rng.uniform(-0.4, 0.4) * m, a * rng.uniform(-0.1, 0.1) * m, **common)
    elif preset == "pan":
        traj = pan(a * rng.uniform(-40.0, 40.0), a * rng.uniform(-10.0, 10.0), **common)
    else:
        raise ValueError(f"random_trajectory: preset {preset!r} is not one of {PRESETS}")
    # presets live in the start camera's frame (frame 0 = identity); re-express them in the scene's
    return CameraTrajectory(traj.cameras.transformed(start.cam_from_world[0]), name=traj.name, kind=traj.kind, fps=traj.fps)


def collision_free_trajectory(scene: Scene, start: Cameras, preset: str, rng: np.random.Generator, n_frames: int,
                              margin: float = 0.15, tries: int = 6) -> CameraTrajectory:
    """:func:`random_trajectory` whose every camera centre is free space (``scene.is_free``),
    halving the amplitude after each collision; falls back to a pan, whose centre never moves."""
    amplitude = 1.0
    for _ in range(tries):
        traj = random_trajectory(scene, start, preset, rng, n_frames, amplitude)
        if scene.is_free(traj.cameras.centers, margin).all():
            return traj
        amplitude *= 0.5
    log.debug("%s: %s kept colliding; using a pan", scene, preset)
    return random_trajectory(scene, start, "pan", rng, n_frames)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)


def generate_clips(out_dir: str | Path, config: ClipConfig = ClipConfig()) -> Path:
    """Render the clips of ``config`` into ``out_dir`` (shards + ``index.json``); returns the index path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(config.n_scenes):
        kind = config.kinds[i % len(config.kinds)]
        scene_seed = int(np.random.default_rng([config.seed, i]).integers(2**31))
        rng = np.random.default_rng([config.seed, i, 1])
        scene = make_scene(scene_seed, kind)
        arrays: dict[str, np.ndarray] = {}
        shard = f"shard_{i:05d}.npz"
        for j in range(config.clips_per_scene):
            start = scene.sample_camera(rng, config.width, config.height, rng.uniform(*config.fov_deg))
            preset = config.presets[rng.integers(len(config.presets))]
            traj = collision_free_trajectory(scene, start, preset, rng, config.n_frames, config.margin)
            res = render(scene, traj.cameras, shading=config.shading)
            arrays[f"clip{j}_frames"] = _to_uint8(res.frames)
            arrays[f"clip{j}_depth"] = res.depth
            arrays[f"clip{j}_K"] = traj.cameras.K
            arrays[f"clip{j}_cam_from_world"] = traj.cameras.cam_from_world
            clips.append({"shard": shard, "key": f"clip{j}", "scene_seed": scene_seed, "kind": kind,
                          "trajectory": traj.kind, "n_frames": config.n_frames})
        with atomic_path(out / shard) as tmp:
            np.savez_compressed(tmp, **arrays)
        log.info("wrote %s (%s, %d clips)", shard, kind, config.clips_per_scene)
    index = {"version": INDEX_VERSION, "width": config.width, "height": config.height,
             "config": asdict(config), "clips": clips}
    atomic_write_json(out / "index.json", index)
    return out / "index.json"


@dataclass(frozen=True)
class SSMPair:
    """Frame indices of one SSM training pair drawn from a clip (paper §3.3, App. D).

    ``target`` (N,) in time order; ``reference`` (N,) shuffled, ``reference[i]`` being the
    reference of ``target[i]``; ``keep`` (N,) False where that reference is dropped (all False
    when the whole reference condition is dropped); ``overlap`` = shared frames / N.
    """

    target: np.ndarray
    reference: np.ndarray
    keep: np.ndarray
    overlap: float


def sample_ssm_pair(n_available: int, n_frames: int, rng: np.random.Generator,
                    overlap: tuple[float, float] = (0.3, 0.9), frame_dropout: float = 0.3,
                    reference_dropout: float = 0.1) -> SSMPair:
    """Two windows of ``n_frames`` from a clip of ``n_available`` frames sharing a share of frames
    drawn in ``overlap`` (narrowed from below when the clip is too short to separate them)."""
    lo = max(overlap[0], (2 * n_frames - n_available) / n_frames)
    if n_frames < 1 or n_frames > n_available or lo > overlap[1]:
        raise ValueError(f"sample_ssm_pair: a clip of {n_available} frames cannot hold two windows of {n_frames} "
                         f"overlapping by {overlap[0]:.0%}-{overlap[1]:.0%}; use at most {int(n_available / (2 - overlap[0]))} frames")
    shared = int(np.clip(round(rng.uniform(lo, overlap[1]) * n_frames), np.ceil(lo * n_frames), n_frames))
    offset = n_frames - shared
    start = int(rng.integers(0, n_available - n_frames - offset + 1))
    first, second = np.arange(start, start + n_frames), np.arange(start + offset, start + offset + n_frames)
    target, reference = (first, second) if rng.random() < 0.5 else (second, first)
    reference = rng.permutation(reference)
    keep = rng.random(n_frames) >= frame_dropout
    if rng.random() < reference_dropout:
        keep[:] = False
    return SSMPair(target, reference, keep, shared / n_frames)


class ClipDataset(torch.utils.data.Dataset):
    """Clips from ``generate_clips`` shards, as float32 tensors.

    ``mode="clip"``: a random window of ``n_frames`` (default: whole clip) with ``frames``
    (F, H, W, 3) in [0, 1], ``depth`` (F, H, W), ``K`` (F, 3, 3), ``cam_from_world`` (F, 4, 4).
    ``mode="ssm"``: the same keys for the target plus ``ref_frames``, ``ref_depth``, ``ref_K``,
    ``ref_cam_from_world`` and ``ref_keep`` (F,) bool for the shuffled reference (dropped
    references have zero frames and depth). ``n_frames`` defaults to the longest window that
    allows a 30 % overlap. With ``relative_to_first`` the world frame is the first target camera
    (the project's single-image convention), else the scene's. Item ``i`` of epoch ``e`` is a
    deterministic function of ``(seed, e, i)``; call :meth:`set_epoch` to draw new windows.
    """

    def __init__(self, index: str | Path, mode: str = "clip", n_frames: int | None = None, seed: int = 0,
                 relative_to_first: bool = True):
        path = Path(index)
        if path.is_dir():
            path = path / "index.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no clip index; make one with worldstereo.data.datasets.generate_clips")
        meta = json.loads(path.read_text())
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"{path}: index version {meta.get('version')!r}, expected {INDEX_VERSION}")
        if mode not in ("clip", "ssm"):
            raise ValueError(f"ClipDataset: mode {mode!r} is not 'clip' or 'ssm'")
        self.root, self.clips, self.mode = path.parent, meta["clips"], mode
        length = min(c["n_frames"] for c in self.clips)
        self.n_frames = n_frames or (length if mode == "clip" else int(length / 1.7))
        if not 1 <= self.n_frames <= length:
            raise ValueError(f"ClipDataset: n_frames={n_frames} must be in [1, {length}] for these clips")
        self.seed, self.epoch, self.relative_to_first = seed, 0, relative_to_first

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def _load(self, i: int) -> dict[str, np.ndarray]:
        c = self.clips[i]
        with np.load(self.root / c["shard"]) as z:
            return {k: z[f"{c['key']}_{k}"] for k in ("frames", "depth", "K", "cam_from_world")}

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"ClipDataset: index {i} out of range for {len(self)} clips")
        rng = np.random.default_rng([self.seed, self.epoch, i])
        clip = self._load(i)
        L = len(clip["frames"])
        if self.mode == "clip":
            start = int(rng.integers(0, L - self.n_frames + 1))
            target, pair = np.arange(start, start + self.n_frames), None
        else:
            pair = sample_ssm_pair(L, self.n_frames, rng)
            target = pair.target
        world_from_new = np.linalg.inv(clip["cam_from_world"][target[0]]) if self.relative_to_first else np.eye(4)
        item = _frames(clip, target, world_from_new, "")
        if pair is not None:
            item.update(_frames(clip, pair.reference, world_from_new, "ref_"))
            keep = torch.from_numpy(pair.keep)
            item["ref_frames"] = item["ref_frames"] * keep[:, None, None, None]
            item["ref_depth"] = item["ref_depth"] * keep[:, None, None]
            item["ref_keep"] = keep
        item["index"] = i
        return item


def _frames(clip: dict[str, np.ndarray], idx: np.ndarray, world_from_new: np.ndarray, prefix: str) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}frames": torch.from_numpy(clip["frames"][idx].astype(np.float32) / 255.0),
        f"{prefix}depth": torch.from_numpy(clip["depth"][idx].astype(np.float32)),
        f"{prefix}K": torch.from_numpy(clip["K"][idx].astype(np.float32)),
        f"{prefix}cam_from_world": torch.from_numpy((clip["cam_from_world"][idx] @ world_from_new).astype(np.float32)),
    }
