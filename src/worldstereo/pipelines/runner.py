"""The multi-trajectory loop of DESIGN §3, writing a resumable run directory (DESIGN §6).

For each trajectory: (1) render the Cache3D at the targets, (2) retrieve references from the
memory bank for every 4th target, (3) pointmaps, (4) generate, (5) bank update, (6) depth ->
align -> merge into the cache, (7) write the trajectory's files and mark it done.

Frames are quantised to 8 bits once, right after generation, and everything downstream (memory
updates, files) uses those exact values; the depth used for the cache is saved losslessly. A
resumed run therefore rebuilds the memories by replaying the finished trajectories' files and
continues bit-for-bit as the uninterrupted run would have.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Protocol, Sequence

import numpy as np

from ..atomic import atomic_path, atomic_write_json
from ..camera import Cameras, CameraTrajectory, check_smoothness, load_trajectory, save_trajectory
from ..memory import overlap_fov_score
from ..memory.bank import Retrieval
from .depth import DepthBackend
from .generators.base import GenerationRequest, GenerationResult, Generator
from .planner import AutoPlanner as Planner
from ..runlayout import BANK, CACHE, MEMORY, RunLayout, TrajectoryLayout
from .rundir import RunDirectory
from .scene_state import SceneState
from .video import read_frames, to_uint8, write_frames, write_video

log = logging.getLogger(__name__)


# progress(kind, trajectory, i, n, what): kind "trajectory" when one starts (and i == n once all are done),
# "step" per generator step
ProgressCallback = Callable[[str, str, int, int, str], None]


class Evaluator(Protocol):
    """Scores generated frames against a ground truth (e.g. ``eval.SyntheticGroundTruth``)."""

    def scores(self, frames: np.ndarray, cameras: Cameras, hole_masks: np.ndarray) -> dict: ...


@dataclass
class TrajectoryOutput:
    """What one trajectory produced (frames uint8-exact as floats, in [0, 1])."""

    name: str
    frames: np.ndarray
    cameras: Cameras
    renders: np.ndarray
    masks: np.ndarray
    depth: Optional[np.ndarray]
    depth_source: Optional[str]
    references: Optional[dict]
    info: dict = field(default_factory=dict)
    confidence: Optional[np.ndarray] = None  # the generator's per-pixel trust for the cache
    derived: bool = False  # the frames are the cache's own render plus inpainting


@dataclass
class SceneRun:
    """A finished (or resumed) multi-trajectory run: where it lives and what it holds."""

    root: Path
    state: SceneState
    trajectories: list[CameraTrajectory]
    record: dict  # run.json as written (``RunRecord.to_dict()``)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.trajectories]

    def trajectory_dir(self, name: str) -> Path:
        return RunLayout(self.root).trajectory(name).root


def _quantise(frames: np.ndarray) -> np.ndarray:
    return to_uint8(frames).astype(np.float32) / 255.0


def _references_json(req: GenerationRequest, state: SceneState, every: int = 4) -> Optional[dict]:
    r = req.references
    if r is None:
        return None
    angles = []
    for k, b in zip(r.target_indices, r.bank_indices):
        axis_t = req.cameras.world_from_cam[int(k), :3, 2]
        axis_b = state.bank.frames[int(b)].camera.world_from_cam[0, :3, 2]
        angles.append(float(np.degrees(np.arccos(np.clip(axis_t @ axis_b, -1, 1)))))
    retrieval = Retrieval(r.target_indices, r.bank_indices, r.scores, np.asarray(angles), "volume")
    return {
        "every": int(every),
        "targets": [int(i) for i in r.target_indices],
        "references": [int(i) for i in r.bank_indices],
        "reference_sources": [f"{state.bank.frames[int(b)].source}:{state.bank.frames[int(b)].index}" for b in r.bank_indices],
        "scores": [float(s) for s in r.scores],
        "angles": angles,
        "overlap_fov_score": overlap_fov_score(retrieval),
    }


class SceneRunner:
    """Runs (or resumes) the multi-trajectory loop into ``run`` for one scene state."""

    def __init__(self, generator: Generator, run: RunDirectory, state: SceneState, use_ggm: bool = True,
                 use_ssm: bool = True, depth_backend: Optional[DepthBackend] = None,
                 evaluator: Optional[Evaluator] = None, steps: Optional[int] = None,
                 guidance: Optional[float] = None, seed: int = 0, progress: Optional["ProgressCallback"] = None):
        self.generator = generator
        self.run = run
        self.state = state
        self.use_ggm = use_ggm
        self.use_ssm = use_ssm
        self.depth_backend = depth_backend
        self.evaluator = evaluator
        self.steps = steps
        self.guidance = guidance
        self.seed = seed
        self.progress = progress

    # -- one trajectory -------------------------------------------------------------------------
    def generate(self, traj: CameraTrajectory, index: int) -> TrajectoryOutput:
        """Steps 1–4 for one trajectory (no memory update, no files)."""
        req = self.state.request(traj, self.use_ggm, self.use_ssm, self.steps, self.guidance, self.seed + index,
                                 ssm_every=self.generator.ssm_every)

        def step(i: int, n: int, what: str) -> None:
            if self.progress is not None:
                self.progress("step", traj.name, i, n, what)

        res: GenerationResult = self.generator.generate(req, step)
        frames = _quantise(res.frames)
        depth, source = self._depth(res, frames, req)
        confidence = None if res.confidence is None else np.asarray(res.confidence, np.float32)
        return TrajectoryOutput(traj.name, frames, req.cameras, req.renders, req.masks, depth, source,
                                _references_json(req, self.state, self.generator.ssm_every), dict(res.info), confidence, bool(res.derived))

    def _depth(self, res: GenerationResult, frames: np.ndarray, req: GenerationRequest) -> tuple[Optional[np.ndarray], str]:
        """Depth for the cache update: the generator's own (pose head / warp), else the depth backend
        on every frame (its scale is absorbed by the Sim(3) alignment), else the cache render."""
        if res.depth is not None:
            return res.depth.astype(np.float32), res.depth_source or self.generator.name
        if self.depth_backend is not None:
            return np.stack([self.depth_backend.estimate(f).depth for f in frames]), f"depth-backend:{self.depth_backend.name}"
        return req.render_depth.astype(np.float32), "cache-render"

    # -- files --------------------------------------------------------------------------------
    def write(self, out: TrajectoryOutput, traj: CameraTrajectory) -> list[Path]:
        t = TrajectoryLayout(self.run.trajectory_dir(out.name))
        files = write_frames(t.frames, out.frames)
        files.append(write_video(t.video, out.frames, fps=traj.fps))
        files.append(write_video(t.render, out.renders, fps=traj.fps))
        files.append(write_video(t.mask, out.masks, fps=traj.fps))
        files.append(save_trajectory(traj.with_cameras(out.cameras), t.cameras))
        atomic_write_json(t.references, out.references or {"every": self.generator.ssm_every, "targets": [], "references": [],
                                                                     "scores": [], "angles": []})
        files.append(t.references)
        if out.depth is not None:
            extra = {} if out.confidence is None else {"confidence": out.confidence}
            with atomic_path(t.depth) as tmp:
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, depth=out.depth, source=np.array(out.depth_source or ""),
                                        derived=np.array(out.derived), **extra)
            files.append(t.depth)
        return files

    def load(self, traj: CameraTrajectory) -> tuple[np.ndarray, Optional[np.ndarray], Cameras, dict]:
        """A finished trajectory's frames, cache depth and cameras, exactly as the run used them, and
        how the cache merged them (``confidence``, ``derived`` for :meth:`SceneState.update`)."""
        t = TrajectoryLayout(self.run.trajectory_dir(traj.name))
        frames = read_frames(t.frames).astype(np.float32) / 255.0
        depth, merge = None, {}
        if t.depth.is_file():
            with np.load(t.depth) as z:
                depth = z["depth"]
                if "confidence" in z.files:
                    merge["confidence"] = z["confidence"]
                if "derived" in z.files:
                    merge["derived"] = bool(z["derived"])
        return frames, depth, load_trajectory(t.cameras).cameras, merge

    def save_memories(self) -> None:
        self.state.cache.save(self.run.path(CACHE))
        self.state.bank.save(self.run.path(MEMORY))
        self.run.record.cache_steps = self.state.steps
        self.run.record_output("memories", [self.run.path(CACHE), self.run.path(MEMORY, BANK)],
                               {"cache_points": len(self.state.cache), "bank_frames": len(self.state.bank)})

    # -- the loop -----------------------------------------------------------------------------
    def _sequence(self, trajectories: "Sequence[CameraTrajectory] | Planner") -> Iterator[CameraTrajectory]:
        """The trajectories in order: a fixed list, or a planner's next choice from the state as the
        previous trajectory left it (re-planned identically on resume, where it is checked against
        the decisions the run recorded)."""
        if not isinstance(trajectories, Planner):
            yield from trajectories
            return
        recorded = (self.run.record.plan or {}).get("steps", []) if self.run is not None else []
        while (traj := trajectories.next()) is not None:
            k = len(trajectories.chosen) - 1
            if k < len(recorded) and recorded[k].get("chosen") not in (None, traj.name) and self.run.is_done(
                    recorded[k]["chosen"]):
                raise ValueError(f"resume: the planner chose {traj.name!r} at step {k} where the run in "
                                 f"{self.run.root} chose {recorded[k]['chosen']!r}; start a new run (no --resume)")
            if self.run is not None:
                self.run.record.plan = trajectories.record()
                self.run.record.order = [t.name for t in trajectories.chosen]
            yield traj
        if self.run is not None:
            self.run.record.plan = trajectories.record()
            self.run.save()

    def run_all(self, trajectories: "Sequence[CameraTrajectory] | Planner",
                on_done: Optional[Callable[[str], None]] = None) -> None:
        """Generate (or, when done earlier, replay) every trajectory of a list or of a planner."""
        planned = isinstance(trajectories, Planner)
        if not planned:
            names = [t.name for t in trajectories]
            if len(set(names)) != len(names):
                raise ValueError(f"trajectory names must be unique, got {names}")
        total = trajectories.budget if planned else len(trajectories)
        replaying, generated = True, False
        for i, traj in enumerate(self._sequence(trajectories)):
            report = check_smoothness(traj)
            self.run.entry(traj.name)  # registers it in the record (status pending) before any work
            replaying = replaying and self.run.is_done(traj.name)
            if replaying:  # finished earlier: replay its memory update from its files
                log.info("trajectory %s: done earlier, replaying its memory update", traj.name)
                frames, depth, cams, merge = self.load(traj)
                self.state.update(traj.name, frames, depth, cams, self.use_ggm, self.use_ssm, **merge)
                continue
            generated = True
            if self.progress is not None:
                self.progress("trajectory", traj.name, i, total, "")
            self.run.start(traj.name)
            t0 = time.time()
            out = self.generate(traj, i)
            t_gen = time.time() - t0
            step = self.state.update(traj.name, out.frames, out.depth, out.cameras, self.use_ggm, self.use_ssm,
                                     out.confidence, out.derived)
            t_mem = time.time() - t0 - t_gen
            files = self.write(out, traj)
            info = {
                "index": i, "frames": len(out.frames), "generator": self.generator.name,
                "untrained_generator": self.generator.untrained, "depth_source": out.depth_source,
                "seconds_generate": round(t_gen, 3), "seconds_memory": round(t_mem, 3),
                "cache_points": step["points"], "rejected_frames": step["rejected_frames"],
                "hole_share": float(out.masks[1:].mean()) if len(out.masks) > 1 else 0.0,
                "warnings": [f"rough step {s}->{s + 1}" for s in report.rough_steps],
                "generator_info": out.info,
            }
            if out.references:
                info["overlap_fov_score"] = out.references["overlap_fov_score"]
            if self.evaluator is not None:
                info["metrics"] = self.evaluator.scores(out.frames, out.cameras, out.masks)
                info["psnr"] = info["metrics"]["psnr"]
                free = info["metrics"].get("cameras_in_free_space", 1.0)
                if free < 1.0:
                    info["warnings"].append(f"{1 - free:.0%} of the cameras are inside scene geometry; "
                                            "the ground-truth scores of this trajectory are not meaningful")
            self.save_memories()
            self.run.finish(traj.name, files, info)
            if on_done is not None:
                on_done(traj.name)
        if self.progress is not None and generated:
            self.progress("trajectory", "", total, total, "")
        if not generated:
            self.save_memories()

