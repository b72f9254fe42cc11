"""What every bench shares: the resumable results store, generator set-up, scene runs and scoring."""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..atomic import atomic_write_json
from ..camera import Cameras, load_trajectory
from ..eval.camera_metrics import camera_metrics
from ..eval.consistency import TrajectoryView
from ..eval.poses import estimate_cameras
from .suites import Suite

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
VERSION_PACKAGES = ("worldstereo", "numpy", "torch", "open3d", "open3d-cpu", "pycolmap", "opencv-python-headless", "diffusers")


def versions() -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class BenchStore:
    """``results.json`` of one bench run in ``out``: settings, versions, seeds and one entry per
    finished unit (scene x generator x setting). A rerun with the same settings skips finished
    units; a different bench or settings in the same folder is refused rather than mixed."""

    def __init__(self, out: Path, bench: str, settings: dict, progress: Optional[Progress] = None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / "results.json"
        self.progress = progress or (lambda msg: log.info("%s", msg))
        fresh = {"bench": bench, "settings": settings, "versions": versions(), "seeds": {"seed": settings["seed"]},
                 "units": {}, "aggregate": {}, "timings": {}}
        if self.path.is_file():
            old = json.loads(self.path.read_text())
            if old.get("bench") != bench or old.get("settings") != json.loads(json.dumps(settings)):
                raise ValueError(f"{self.path} holds a {old.get('bench')} bench with other settings; "
                                 "use another --out folder or delete it")
            fresh["units"], fresh["timings"] = old.get("units", {}), old.get("timings", {})
        self.data = fresh

    def done(self, key: str) -> bool:
        return key in self.data["units"]

    def get(self, key: str) -> dict:
        return self.data["units"][key]

    def put(self, key: str, value: dict, seconds: float) -> None:
        self.data["units"][key] = _jsonable(value)
        self.data["timings"][key] = round(seconds, 2)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, _jsonable(self.data))

    def unit(self, key: str, fn: Callable[[], dict]) -> dict:
        """The result of ``key``: from an earlier run when there is one, else computed and stored."""
        if self.done(key):
            self.progress(f"{key}: done earlier, skipped")
            return self.get(key)
        self.progress(f"{key}: running")
        t0 = time.perf_counter()
        value = fn()
        self.put(key, value, time.perf_counter() - t0)
        self.progress(f"{key}: finished in {time.perf_counter() - t0:.1f} s")
        return self.get(key)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class GeneratorSpec:
    """A generator backend as the benches build it (``sampler`` = ``dmd`` for the distilled row)."""

    name: str
    model_dir: Optional[str] = None

    @property
    def learned(self) -> bool:
        return self.name != "warp"


def build_pipeline(spec: GeneratorSpec, side: int, sampler: Optional[str] = None) -> Any:
    """A ``WorldStereo`` for ``spec`` at long side ``side`` (learned generators use their native size)."""
    from ..pipelines.api import DEFAULT_MODEL, WorldStereo, bundled_models
    from ..pipelines.generators import build_generator

    if not spec.learned:
        return WorldStereo.from_pretrained("warp", max_side=side)
    bundled = bundled_models()
    model_dir = Path(spec.model_dir) if spec.model_dir else bundled.get(DEFAULT_MODEL) if spec.name == "tiny" else None
    if model_dir is None:
        raise ValueError(f"the {spec.name} generator needs --model-dir")
    gen = build_generator(spec.name, model_dir=model_dir, sampler=sampler,
                          allow_random=model_dir == bundled.get(DEFAULT_MODEL))
    return WorldStereo(gen, max_side=side)


def sample_dir(name: str) -> Path:
    from ..data.samples import SPECS, samples_dir

    if name not in SPECS:
        raise ValueError(f"bench scene {name!r} is not a bundled sample ({', '.join(SPECS)})")
    return samples_dir() / name


def ground_truth(scene: str) -> Any:
    from ..data.samples import read_sample
    from ..eval.groundtruth import SyntheticGroundTruth

    return SyntheticGroundTruth.from_meta(read_sample(sample_dir(scene)).meta)


def run_scene(ws: Any, scene: str, trajectories: Sequence[Any], out: Path, suite: Suite, use_ggm: bool, use_ssm: bool,
              seed: int) -> Any:
    """Generate ``trajectories`` (in order) from the scene's image into the run directory ``out``
    (resumed per trajectory when it exists). The unit's folder is named by the scene and generator,
    so both must be safe names."""
    from ..safepath import check_name

    check_name(scene, "bench scene")
    check_name(getattr(getattr(ws, "generator", None), "name", "generator"), "generator name")
    return ws.generate_scene(str(sample_dir(scene)), trajectories=list(trajectories), output_dir=out, resume=True,
                             use_ggm=use_ggm, use_ssm=use_ssm, n_frames=suite.frames, seed=seed)


def load_view(run: Any, name: str) -> TrajectoryView:
    """A finished trajectory's frames, cache depth and cameras from its run directory."""
    from ..pipelines.video import read_frames

    from ..runlayout import TrajectoryLayout

    t = TrajectoryLayout(run.trajectory_dir(name))
    frames = read_frames(t.frames).astype(np.float32) / 255.0
    cams = load_trajectory(t.cameras).cameras
    depth = np.zeros(frames.shape[:3], np.float32)
    if t.depth.is_file():
        with np.load(t.depth) as z:
            depth = z["depth"].astype(np.float32)
    return TrajectoryView(name, frames, depth, cams)


def camera_scores(frames: np.ndarray, cameras: Cameras, backend: str = "pycolmap", model: Any = None,
                  seed: int = 0) -> dict:
    """RotErr / TransErr / ATE (CamI2V convention: sum over frames, radians, max-norm scale) of the
    cameras ``backend`` recovers from ``frames`` with K known, over the frames it registers.
    A failed estimation is reported as such (figures None), never as zero error."""
    options: dict[str, Any] = {"seed": seed}
    if backend == "pycolmap":
        options["num_threads"] = 2
    elif backend == "pose-head":
        options["model"] = model
    elif backend == "given":
        options = {"cameras": cameras}
    try:
        est = estimate_cameras(frames, cameras.K[0], backend=backend, **options)
    except (ValueError, RuntimeError) as exc:
        return {"registered_share": 0.0, "rot_err": None, "trans_err": None, "ate": None, "error": str(exc).splitlines()[0]}
    idx = np.flatnonzero(est.registered)
    if len(idx) < 3:
        return {"registered_share": est.registered_share, "rot_err": None, "trans_err": None, "ate": None,
                "error": f"only {len(idx)} frames registered"}
    m = camera_metrics(est.cameras, cameras[idx])
    return {"registered_share": est.registered_share, **{k: m[k] for k in ("rot_err", "trans_err", "ate")},
            "settings": {k: m[k] for k in ("reduction", "unit", "scale")}}


def mean_of(rows: Sequence[dict], key: str) -> Optional[float]:
    """Mean of ``key`` over rows where it is a number (None when there is none)."""
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and r.get(key) is not None]
    return float(np.mean(vals)) if vals else None
