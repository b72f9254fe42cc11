"""The public API: ``WorldStereo.from_pretrained(...).generate / generate_from_panorama / generate_scene``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..atomic import atomic_path
from ..camera import (
    PLAN_ORDER,
    Cameras,
    CameraTrajectory,
    crop_intrinsics,
    load_trajectory,
    preset,
    scale_intrinsics,
)
from ..memory import Cache3D
from ..runlayout import INPUT_IMAGE, video_context_path
from ..safepath import check_name
from . import limits
from .depth import DepthBackend, depth_backend
from .generators import GENERATORS, Generator, build_generator
from .exif import read_exif
from .panorama_depth import estimate_panorama
from .inputs import (InputError, aspect_crop, check_panorama, load_image, resolve_intrinsics, sample_folder,
                     trajectory_source)
from .planner import AutoPlanner, PlanConfig
from .rundir import RunDirectory, run_lock
from .runner import Evaluator, ProgressCallback, SceneRun, SceneRunner
from .scene_state import SceneState, resize_depth, resize_image
from .video import write_frames, write_video

log = logging.getLogger(__name__)

DEFAULT_MODEL = "worldstereo-tiny"
DEPTH_MODEL_ENV = "WORLDSTEREO_DEPTH_MODEL"
#: names used by the WorldStereo API document that have no weights of that name here; each maps to what
#: this project ships, and saying so is part of resolving it
MODEL_ALIASES = {
    "worldstereo-v1": (DEFAULT_MODEL, "'worldstereo-v1' (the API document's name) is not a released checkpoint; "
                       "using the bundled CPU model 'worldstereo-tiny' (trained here on synthetic scenes). The "
                       "authors' released weights are the WorldStereo 2.0 checkpoints (Hugging Face "
                       "hanshanxue/WorldStereo): from_pretrained(DIR, variant='memory-dmd', base_model=WAN_DIR), "
                       "see docs/official-checkpoints.md"),
}
DEFAULT_FRAMES = 21
DEFAULT_MAX_SIDE = 512
ImageLike = Union[str, os.PathLike, np.ndarray]


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped in the package and their folders."""
    root = Path(str(resources.files("worldstereo") / "assets" / "models"))
    return {DEFAULT_MODEL: root / DEFAULT_MODEL}


@dataclass
class GeneratedVideo:
    """One generated trajectory: frames (N, H, W, 3) float32 in [0, 1], their cameras, the Cache3D
    renders and hole masks it was conditioned on, the retrieved references, and depth."""

    frames: np.ndarray
    cameras: Cameras
    renders: np.ndarray
    masks: np.ndarray
    references: Optional[dict] = None
    depth: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)
    fps: float = 16.0
    context: Optional[Cache3D] = None
    """The Cache3D the video was made in, when it holds what the frames do not show (a panorama's 360°
    points: ``generate_from_panorama``)."""

    def save(self, path: str | os.PathLike) -> Path:
        """H.264 mp4 of the frames; with ``context``, that Cache3D too, beside it as ``<name>.cache.ply``
        (``reconstruct_scene(..., panoramic_input=True)`` reads it from there)."""
        out = write_video(path, self.frames, fps=self.fps)
        if self.context is not None:
            self.context.save(video_context_path(out))
        return out

    def save_frames(self, folder: str | os.PathLike) -> list[Path]:
        """One PNG per frame (lossless)."""
        return write_frames(folder, self.frames)


@dataclass
class SceneInput:
    """A prepared input at the working size, with where each part came from."""

    state: SceneState
    record: dict
    evaluator: Optional[Evaluator] = None
    image_path: Optional[Path] = None


def _is_ws2_release(name: str) -> bool:
    """A folder in the released WorldStereo 2.0 layout (``worldstereo-memory-dmd/config.json`` ...)."""
    root = Path(name)
    return root.is_dir() and any((root / f"worldstereo-{v}" / "config.json").is_file()
                                 for v in ("camera", "memory", "memory-dmd"))


class WorldStereo:
    """Camera-guided, memory-conditioned video generation for one scene at a time.

    Args:
        generator: a backend (``tiny``, ``wan`` or ``warp``; see :func:`build_generator`).
        depth_model: optional ``transformers`` depth model (folder or hub id) for photos and panoramas
            without depth; default: the environment variable ``WORLDSTEREO_DEPTH_MODEL``.
    """

    def __init__(self, generator: Generator, depth_model: Optional[str | os.PathLike] = None,
                 max_side: Optional[int] = DEFAULT_MAX_SIDE):
        self.generator = generator
        # the environment may name one for every script (the API document's examples pass none)
        self.depth_model = depth_model or os.environ.get(DEPTH_MODEL_ENV) or None
        self.max_side = limits.check_max_side(max_side)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL, device: Optional[str] = None,
                        dtype: Any = None, generator: Optional[str] = None, **kwargs: Any) -> "WorldStereo":
        """A bundled model by name (default ``worldstereo-tiny``), ``warp``, or a local directory
        (our ``save_pretrained`` layout, or a diffusers-layout Wan2.1-I2V directory). Nothing is
        ever downloaded; a missing directory or incomplete weights raise a clear error."""
        name = str(name_or_path)
        if name in MODEL_ALIASES and not Path(name).exists() and generator != "ws2":
            name, note = MODEL_ALIASES[name]
            log.warning(note)
        if generator == "ws2" or kwargs.get("variant") is not None or _is_ws2_release(name):
            return cls._from_ws2(name, device, dtype, **kwargs)
        if generator is None:
            generator = "warp" if name == "warp" else "tiny" if name in bundled_models() else None
        if generator == "warp":
            return cls(build_generator("warp"), **kwargs)
        if generator not in (None, *GENERATORS):
            raise ValueError(f"generator {generator!r} is not one of {', '.join(GENERATORS)}")
        model_dir = bundled_models().get(name, Path(name))
        # only the bundled default may stand in with random weights (until trained weights ship)
        gen = build_generator(generator or "auto", model_dir=model_dir, device=device, dtype=dtype,
                              allow_random=name in bundled_models())
        return cls(gen, **kwargs)

    @classmethod
    def _from_ws2(cls, name: str, device: Optional[str], dtype: Any, variant: Optional[str] = None,
                  base_model: Optional[str | os.PathLike] = None, allow_download: bool = False, prompt: str = "",
                  **kwargs: Any) -> "WorldStereo":
        """The authors' released WorldStereo 2.0 checkpoints: ``name`` is the release folder (or hub id with
        ``allow_download``), ``variant`` one of camera | memory | memory-dmd (default memory-dmd),
        ``base_model`` the diffusers-layout Wan2.1-I2V-480P folder (default: the one the config names)."""
        gen = build_generator("ws2", model_dir=name, variant=variant or "memory-dmd", base_model=base_model,
                              device=device, dtype=dtype, prompt=prompt, allow_download=allow_download)
        return cls(gen, **kwargs)

    # -- inputs -------------------------------------------------------------------------------------
    def prepare(self, image: Any, depth: Any = None, K: Any = None, fov: Optional[float] = None,
                panorama: Optional[bool] = None, depth_model: Optional[str | os.PathLike] = None) -> SceneInput:
        """Read and check the inputs, pick the working size, build the initial memories."""
        record: dict = {}
        evaluator = None
        sample_dir = sample_folder(image)
        sample_depth = None
        image_path = None
        exif = None
        if sample_dir is not None:
            from ..data.samples import read_sample
            from ..eval import SyntheticGroundTruth

            sample = read_sample(sample_dir)
            img, sample_depth = sample.image, sample.depth
            K = sample.K if K is None and fov is None else K
            panorama = sample.meta.get("projection") == "equirectangular" if panorama is None else panorama
            evaluator = SyntheticGroundTruth.from_meta(sample.meta)
            image_path = sample_dir / "image.png"
            record["sample"] = sample.name
        elif isinstance(image, np.ndarray):
            img = np.asarray(image, dtype=np.float32)
            if img.ndim != 3 or img.shape[-1] != 3:
                raise InputError(f"image: expected an (H, W, 3) array, got shape {img.shape}")
        else:
            image_path = Path(image)
            img = load_image(image_path)
            exif = read_exif(image_path)
        h0, w0 = img.shape[:2]
        backend: DepthBackend = depth_backend(depth, depth_model or self.depth_model, sample_depth,
                                              source=str(image_path or "image"))
        if panorama:
            check_panorama(img, str(image_path or "panorama"))
            est = estimate_panorama(backend, img)
            h, w = self.generator.working_size(*self._pano_view_size(), self.max_side)
            limits.check_working_size(h, w, self.max_side)
            state = SceneState.from_panorama(img, est.depth, h, w)
            record.update({"kind": "panorama", "depth_source": est.source, "K_source": "panorama-forward-90"})
        else:
            est = backend.estimate(img)
            K0, k_src = resolve_intrinsics((h0, w0), fov, K, est.K, exif)
            h, w = self.generator.working_size(h0, w0, self.max_side)
            limits.check_working_size(h, w, self.max_side)
            x0, y0, wc, hc = aspect_crop(h0, w0, h, w)
            if (h, w) != (h0, w0):
                log.info("input %dx%d %sresized to %dx%d: %s", w0, h0,
                         f"cropped to {wc}x{hc} at ({x0}, {y0}) and " if (wc, hc) != (w0, h0) else "", w, h,
                         self._size_rule())
            Kw = scale_intrinsics(crop_intrinsics(K0, x0, y0), w / wc, h / hc)
            state = SceneState.from_image(resize_image(img[y0:y0 + hc, x0:x0 + wc], h, w),
                                          resize_depth(est.depth[y0:y0 + hc, x0:x0 + wc], h, w), Kw)
            record.update({"kind": "image", "depth_source": est.source, "K_source": k_src,
                           "crop": [x0, y0, wc, hc]})
        record["depth_units"] = est.units
        record.update({"input_size": [w0, h0], "working_size": [state.width, state.height]})
        return SceneInput(state, record, evaluator, image_path)

    def _size_rule(self) -> str:
        """How the generator picks its working size, in words, for the log."""
        g = self.generator
        native = getattr(g, "native", None)
        if native is not None:
            return (f"the {g.name} generator works at its native {native[1]}x{native[0]} pixel area in multiples of "
                    f"{g.size_multiple} px (--max-side does not apply to it); the crop keeps the aspect ratio")
        return (f"long side at most --max-side {self.max_side}, multiples of {g.size_multiple} px; "
                "the crop keeps the aspect ratio")

    def _pano_view_size(self) -> tuple[int, int]:
        return (480, 832) if self.max_side is None else (round(self.max_side * 480 / 832), self.max_side)

    def _frames(self, n_frames: Optional[int]) -> int:
        return int(self.generator.num_frames or n_frames or DEFAULT_FRAMES)

    def plan(self, state: SceneState, trajectories: Optional[Sequence[Any]] = None,
             n_frames: Optional[int] = None) -> list[CameraTrajectory]:
        """The trajectories to generate: the paper's default plan, or files/objects given.

        Every trajectory ends at the length the generator makes (its fixed length, else ``n_frames``
        when given): a different length is resampled with a warning, and one longer than the
        generator and this machine can take is refused. Names must be safe and unique. Nothing is
        written here, so a bad plan costs nothing.
        """
        limits.check_frames(n_frames, state.height, state.width)
        fixed = self.generator.num_frames
        if fixed and n_frames is not None and n_frames != fixed:
            log.warning("the %s generator makes %d frames per trajectory; --frames %d does not apply to it",
                        self.generator.name, fixed, n_frames)
        n = self._frames(n_frames)
        if trajectories is None:
            return [self._fit(self._preset(state, name, n), state, n_frames, "preset") for name in PLAN_ORDER]
        out = []
        for t in trajectories:
            source = str(t) if isinstance(t, (str, os.PathLike)) else "trajectory"
            if trajectory_source(t) == "preset":
                t = self._preset(state, t, n)
            traj = t if isinstance(t, CameraTrajectory) else load_trajectory(t)
            check_name(traj.name, "name", source)
            out.append(self._fit(traj, state, n_frames, source))
        names = [t.name for t in out]
        dup = next((x for x in names if names.count(x) > 1), None)
        if dup is not None:
            raise InputError(f"trajectory name {dup!r} is used twice ({', '.join(names)}); "
                             "give each trajectory file its own \"name\"")
        return out

    def _fit(self, traj: CameraTrajectory, state: SceneState, n_frames: Optional[int], source: str) -> CameraTrajectory:
        """``traj`` at the generator's length and the working size (see :meth:`plan`)."""
        target = self.generator.num_frames or n_frames
        if target is None:
            top = limits.max_frames(state.height, state.width)
            if len(traj) > top:
                raise limits.LimitError(f"{source}: trajectory {traj.name!r} has {len(traj)} frames, more than the "
                                        f"{self.generator.name} generator and this machine take at "
                                        f"{state.width}x{state.height} ({top}); pass --frames {top} or fewer to resample it")
        elif len(traj) != target:
            from ..camera import resample

            why = (f"the {self.generator.name} generator makes {target} frames"
                   if self.generator.num_frames else f"--frames {target}")
            log.warning("trajectory %s resampled from %d to %d frames: %s", traj.name, len(traj), target, why)
            traj = resample(traj, target)
        return traj.with_cameras(traj.cameras.resized(state.width, state.height))

    def _preset(self, state: SceneState, name: str, n: int) -> CameraTrajectory:
        """A preset scaled to the scene, clear of the surfaces the input sees (:meth:`SceneState.clear_of_surfaces`)."""
        return state.clear_of_surfaces(name, lambda depth: preset(name, depth, state.K, state.width, state.height, n))

    # -- single trajectory ----------------------------------------------------------------------------
    def generate(self, image: ImageLike, camera_trajectory: CameraTrajectory | str, depth: Any = None, K: Any = None,
                 references: Optional[Sequence[tuple[np.ndarray, Cameras]]] = None, steps: Optional[int] = None,
                 guidance: Optional[float] = None, seed: int = 0, use_ggm: bool = True,
                 use_ssm: bool = True) -> GeneratedVideo:
        """One camera-controlled video from one image. ``references``: extra (image, camera) pairs put
        into the memory bank before retrieval (the input view is always there)."""
        prepared = self.prepare(image, depth, K)
        return self._one(prepared.state, camera_trajectory, references, steps, guidance, seed, use_ggm, use_ssm)

    def generate_from_panorama(self, panorama_path: ImageLike, camera_trajectory: CameraTrajectory | str,
                               depth: Any = None, steps: Optional[int] = None, seed: int = 0) -> GeneratedVideo:
        """One video starting at the panorama's forward view; the 27 panorama crops are the memory bank."""
        prepared = self.prepare(panorama_path, depth, panorama=True)
        video = self._one(prepared.state, camera_trajectory, None, steps, None, seed, True, True)
        video.context = prepared.state.cache
        return video

    def _one(self, state: SceneState, traj: Any, references, steps, guidance, seed, use_ggm, use_ssm) -> GeneratedVideo:
        traj = self.plan(state, [traj])[0]
        for img, cam in references or []:
            state.bank.add(resize_image(np.asarray(img, np.float32), cam.height, cam.width), cam, source="user")
        runner = SceneRunner(self.generator, None, state, use_ggm, use_ssm, steps=steps, guidance=guidance, seed=seed)
        out = runner.generate(traj, 0)
        return GeneratedVideo(out.frames, out.cameras, out.renders, out.masks, out.references, out.depth,
                              {"generator": self.generator.name, "depth_source": out.depth_source, **out.info}, traj.fps)

    # -- the full multi-trajectory loop ---------------------------------------------------------------
    def generate_scene(self, image_or_panorama: ImageLike, trajectories: Optional[Sequence[Any]] = None,
                       output_dir: str | os.PathLike = "out/run", resume: bool = True, use_ggm: bool = True,
                       use_ssm: bool = True, depth: Any = None, K: Any = None, fov: Optional[float] = None,
                       panorama: Optional[bool] = None, n_frames: Optional[int] = None, steps: Optional[int] = None,
                       guidance: Optional[float] = None, seed: int = 0,
                       progress: Optional[ProgressCallback] = None,
                       on_trajectory_done: Optional[Callable[[str], None]] = None,
                       plan: str = "default", plan_config: Optional[PlanConfig] = None) -> SceneRun:
        """Generate every trajectory (default plan: orbit -> up -> right -> left; ``plan="auto"``: the
        next best trajectory in known free space, re-planned after each, see ``planner.py``) with both
        memories, writing a resumable run directory (DESIGN §6) in ``output_dir``."""
        if plan not in ("default", "auto"):
            raise InputError(f"plan {plan!r} is not 'default' or 'auto'")
        if plan == "auto" and trajectories is not None:
            raise InputError("plan 'auto' chooses its own trajectories; give either trajectories or plan='auto'")
        limits.check_steps(steps)
        limits.check_seed(seed)
        RunDirectory.precheck(output_dir, resume)
        prepared = self.prepare(image_or_panorama, depth, K, fov, panorama)
        state = prepared.state
        planner = None
        if plan == "auto":
            limits.check_frames(n_frames, state.height, state.width)
            planner = AutoPlanner(state, self._frames(n_frames), plan_config or PlanConfig())
        plan = [] if planner else self.plan(state, trajectories, n_frames)
        inputs: dict[str, Any] = {}
        if prepared.image_path is not None:
            inputs["image"] = prepared.image_path
        else:
            inputs["image"] = {"sha256": hashlib.sha256(np.ascontiguousarray(state.image).tobytes()).hexdigest()}
        if isinstance(depth, (str, os.PathLike)):
            inputs["depth"] = depth
        settings = {
            "generator": self.generator.describe(), "use_ggm": use_ggm, "use_ssm": use_ssm, "seed": seed,
            "steps": steps, "guidance": guidance, "working_size": [state.width, state.height],
            "K": np.round(state.K, 9).tolist(), "max_side": self.max_side,
            "trajectories": [hashlib.sha256(json.dumps(t.to_dict()).encode()).hexdigest()[:16] for t in plan],
            "trajectory_names": [t.name for t in plan],
        }
        if planner is not None:  # the trajectories are chosen as the run goes: the planner's settings pin them
            settings["plan"] = planner.record()["config"]
            settings["frames"] = planner.n_frames
        with run_lock(output_dir):
            run = RunDirectory.open(output_dir, inputs, settings, resume=resume)
            run.record.input, run.record.order = prepared.record, [t.name for t in plan]
            if state.plan_scales:  # presets brought nearer to stay clear of seen surfaces (1 = the paper's scale)
                run.record.plan_scale = dict(state.plan_scales)
            if self.generator.untrained:
                run.record.warnings.append(
                    f"the {self.generator.name} generator has untrained (random) weights: frames are not meaningful")
            with atomic_path(run.path(INPUT_IMAGE)) as tmp:
                import imageio.v3 as iio

                iio.imwrite(tmp, (np.clip(state.image, 0, 1) * 255 + 0.5).astype(np.uint8), extension=".png")
            run.save()
            runner = SceneRunner(self.generator, run, state, use_ggm, use_ssm, evaluator=prepared.evaluator, steps=steps,
                                 guidance=guidance, seed=seed, progress=progress)
            runner.run_all(planner or plan, on_done=on_trajectory_done)
        return SceneRun(run.root, state, planner.chosen if planner else plan, run.record.to_dict())
