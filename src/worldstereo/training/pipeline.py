"""The whole schedule: training clips, then the six stages, each starting from the previous one's model."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

from ..atomic import atomic_write_json
from ..safepath import remove_tree
from .config import STAGES, TrainConfig, get_preset
from .trainer import Progress, StageResult, train_stage

log = logging.getLogger(__name__)


def load_train_config(name_or_path: str | Path) -> TrainConfig:
    """A preset name (``tiny-cpu``, ``tiny-gpu``, ``full-8gpu``) or a JSON file of ``TrainConfig.to_dict()``."""
    p = Path(name_or_path)
    if p.suffix == ".json":
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such training config file")
        try:
            return TrainConfig.from_dict(json.loads(p.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}); fix the file") from None
    return get_preset(str(name_or_path))


_MODEL_SUFFIXES = {".safetensors", ".json", ".md"}


def _is_model_folder(path: Path) -> bool:
    """A folder a previous export wrote (a config.json and weights, nothing else), safe to replace."""
    return (path.is_dir() and not path.is_symlink() and (path / "config.json").is_file()
            and all(p.is_file() and p.suffix in _MODEL_SUFFIXES for p in path.iterdir()))


def make_data(config: TrainConfig, out_dir: str | Path) -> Path:
    """Render the synthetic training clips of ``config.data`` into ``out_dir`` (kept when already complete)."""
    from ..data.datasets import ClipConfig, generate_clips

    out = Path(out_dir)
    d = config.data
    if d.n_scenes < 1:
        raise ValueError(f"training config {config.name!r} has no synthetic data (data.n_scenes = {d.n_scenes}); "
                         "full-scale training reads your own clips")
    clip = ClipConfig(n_scenes=d.n_scenes, clips_per_scene=d.clips_per_scene, n_frames=d.n_frames, width=d.size,
                      height=d.size, kinds=tuple(d.kinds), seed=d.seed)
    index = out / "index.json"
    if index.is_file():
        meta = json.loads(index.read_text())
        from dataclasses import asdict

        if meta.get("config") == json.loads(json.dumps(asdict(clip))) and all((out / c["shard"]).is_file() for c in meta["clips"]):
            log.info("training clips already in %s", out)
            return index
    return generate_clips(out, clip)


def train_all(config: TrainConfig, output: str | Path, stages: tuple[str, ...] = STAGES, export: Optional[str | Path] = None,
              progress: Optional[Callable[[str], Progress]] = None) -> list[StageResult]:
    """Clips, then every stage of ``stages`` in order into ``output/<stage>``; resumable at every level.

    ``export``: copy the last stage's model there. ``progress(stage)`` returns the per-step callback.
    """
    out = Path(output)
    if export is not None and Path(export).exists() and not _is_model_folder(Path(export)):
        raise ValueError(f"--export {export}: exists and is not a model folder written by `train --export`; "
                         "choose a new folder (nothing was changed)")
    t0 = time.time()
    t_data = time.time()
    data = make_data(config, out / "data")
    t_data = time.time() - t_data
    results: list[StageResult] = []
    init: Optional[Path] = None
    for stage in stages:
        if stage == "base" and not config.model.startswith("tiny"):
            log.info("skipping base: the full scale starts from Wan2.1")
            continue
        root = out / stage
        if (root / "done.json").is_file() and (root / "final" / "config.json").is_file():
            done = json.loads((root / "done.json").read_text())
            log.info("%s: finished earlier (%d steps)", stage, done["steps"])
            results.append(StageResult(stage, root / "final", done["steps"], done["wall_s"], done.get("last", {})))
        else:
            results.append(train_stage(stage, config, data, root, init=init, resume=True,
                                       progress=progress(stage) if progress else None))
        init = results[-1].final
    summary = {"config": config.name, "data_s": t_data, "total_s": time.time() - t0,
               "stages": {r.stage: {"steps": r.steps, "wall_s": r.wall_s, "last": r.last} for r in results}}
    atomic_write_json(out / "summary.json", summary)
    if export is not None and init is not None:
        dest = Path(export)
        tmp = dest.with_name(dest.name + ".tmp")
        remove_tree(tmp, dest.parent)
        shutil.copytree(init, tmp)
        if config.release:  # inference settings of the release, chosen on validation scenes (the preset says why)
            cfg_path = tmp / "config.json"
            atomic_write_json(cfg_path, {**json.loads(cfg_path.read_text()), **config.release})
        remove_tree(dest, dest.parent)
        tmp.rename(dest)
        log.info("exported the trained model to %s", dest)
    return results
