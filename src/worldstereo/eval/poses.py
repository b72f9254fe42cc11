"""Camera estimation of a video, as backends: ``pycolmap`` (classical SIFT SfM), ``given``.

The model's JOG3R pose head is a third backend, ``pose-head`` (``eval/pose_head.py``); it plugs in
through :func:`register_backend` so that this module does not import ``models``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..camera import Cameras

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraEstimate:
    """Cameras recovered for a video: ``cameras`` holds the registered frames only, in order;
    ``registered`` (F,) marks which input frames they are."""

    cameras: Cameras
    registered: np.ndarray
    backend: str

    @property
    def registered_share(self) -> float:
        return float(self.registered.mean())


Backend = Callable[..., CameraEstimate]
_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, fn: Backend) -> None:
    """Add a camera-estimation backend ``fn(frames, K, **options) -> CameraEstimate``."""
    _BACKENDS[name] = fn


def backends() -> tuple[str, ...]:
    return tuple(sorted(_BACKENDS))


def estimate_cameras(frames: Any, K: Any, backend: str = "pycolmap", **options: Any) -> CameraEstimate:
    """Estimate the camera of every frame of a video.

    Args:
        frames: (F, H, W, 3) float in [0, 1] (or uint8).
        K: (3, 3) intrinsics in pixels of the frames, held fixed by every backend.
        backend: one of :func:`backends`.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"camera backend {backend!r} is not one of {', '.join(backends())}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2:
        raise ValueError(f"frames: expected (F, H, W, 3) with F >= 2, got shape {frames.shape}")
    return _BACKENDS[backend](frames, np.asarray(K, dtype=np.float64), **options)


def _given(frames: np.ndarray, K: np.ndarray, cameras: Optional[Cameras] = None) -> CameraEstimate:
    """The cameras a caller already has (e.g. the target trajectory), checked for length."""
    if cameras is None or len(cameras) != len(frames):
        raise ValueError("given backend: pass cameras= with one camera per frame")
    return CameraEstimate(cameras, np.ones(len(frames), bool), "given")


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def _pycolmap(frames: np.ndarray, K: np.ndarray, work_dir: Optional[str] = None, num_threads: int = -1,
              max_image_size: int = 1600, seed: int = 0) -> CameraEstimate:
    """SIFT features, exhaustive matching and incremental mapping with the intrinsics fixed to K;
    the largest model is kept. Frames that COLMAP does not register are marked unregistered."""
    import imageio.v3 as iio
    import pycolmap

    height, width = frames.shape[1:3]
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        names = [f"frame_{i:05d}.png" for i in range(len(frames))]
        for name, img in zip(names, _to_uint8(frames)):
            iio.imwrite(images / name, img)
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "PINHOLE"
        # COLMAP puts pixel centres at +0.5 like we do, so K carries over unchanged
        reader.camera_params = ",".join(repr(float(v)) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = num_threads
        extraction.max_image_size = max_image_size
        db = tmp / "database.db"
        pycolmap.extract_features(db, images, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                                  extraction_options=extraction, device=pycolmap.Device.cpu)
        pycolmap.match_exhaustive(db, device=pycolmap.Device.cpu)
        opts = pycolmap.IncrementalPipelineOptions()
        opts.ba_refine_focal_length = False
        opts.ba_refine_principal_point = False
        opts.ba_refine_extra_params = False
        opts.random_seed = seed
        opts.num_threads = num_threads
        (tmp / "sparse").mkdir()
        models = pycolmap.incremental_mapping(db, images, tmp / "sparse", options=opts)
    if not models:
        raise ValueError("pycolmap: no frames could be registered (too little texture or overlap)")
    rec = max(models.values(), key=lambda r: r.num_reg_images())
    by_name = {img.name: img for img in rec.images.values() if img.has_pose}
    registered = np.array([n in by_name for n in names])
    T = np.stack([np.vstack([by_name[n].cam_from_world().matrix(), [0, 0, 0, 1]]) for n in names if n in by_name])
    log.info("pycolmap registered %d of %d frames", int(registered.sum()), len(frames))
    return CameraEstimate(Cameras(K, T, width, height), registered, "pycolmap")


register_backend("given", _given)
register_backend("pycolmap", _pycolmap)
