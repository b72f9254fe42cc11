"""Reading what a user hands the pipeline: images, panoramas, depth maps, intrinsics, and what a
name stands for (a preset or a trajectory file, a bundled sample), plus the crop to the working aspect.

Everything returned follows DESIGN §5: images float32 (H, W, 3) in [0, 1], depth float32 (H, W)
with 0 = invalid, K (3, 3) in pixels of the image. Every failure is an ``InputError`` (a
``ValueError``) whose one-line message says what is wrong, where, and how to fix it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..camera import PRESETS, CameraTrajectory, intrinsics_from_fov

log = logging.getLogger(__name__)

PANORAMA_ASPECT_TOL = 0.01
# 16-bit PNG depth is read as millimetres unless told otherwise (the common RGB-D convention).
PNG16_DEPTH_SCALE = 1e-3


class InputError(ValueError):
    """A user input is unusable; the message names the file and the fix."""


def _exists(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what} file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a {what} file")
    return path


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB image as float32 (H, W, 3) in [0, 1]; grey is expanded, alpha dropped."""
    import imageio.v3 as iio

    path = _exists(Path(path), "image")
    try:
        img = iio.imread(path)
    except Exception as exc:  # imageio raises many types for undecodable files
        raise InputError(f"{path}: not a readable image ({type(exc).__name__}); use PNG or JPEG") from None
    img = np.asarray(img)
    if img.ndim == 4:  # animated formats: take the first frame
        img = img[0]
    img = apply_orientation(img, _exif_orientation(path))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4) or min(img.shape[:2]) < 8:
        raise InputError(f"{path}: expected an RGB image of at least 8x8 pixels, got array shape {img.shape}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        out = np.clip(img.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"{path}: unsupported pixel type {img.dtype}; save it as 8-bit PNG")
    return np.ascontiguousarray(out)


# EXIF orientation (1..8) -> the array operation that shows the image upright (as ImageOps.exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _exif_orientation(path: Path) -> int:
    from .exif import read_exif

    cam = read_exif(path)
    return cam.orientation if cam is not None else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """The image upright per its EXIF orientation tag (applied before anything else reads it)."""
    op = _ORIENT.get(int(orientation))
    return np.ascontiguousarray(op(img)) if op is not None else img


def check_panorama(image: np.ndarray, source: str = "panorama") -> None:
    """An equirectangular panorama must be twice as wide as it is high."""
    h, w = image.shape[:2]
    if abs(w / h - 2.0) > PANORAMA_ASPECT_TOL * 2:
        raise InputError(f"{source}: a panorama must be equirectangular with width = 2 x height, got {w}x{h}; "
                         f"resize it to {2 * h}x{h}")


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise InputError(f"{path}: reading EXR needs the 'openexr' package; pip install openexr, or give .npy") from None
    with OpenEXR.File(str(path)) as f:
        channels = f.channels()
        name = next((c for c in ("Z", "depth", "Y", "R") if c in channels), None)
        if name is None:
            raise InputError(f"{path}: no Z/depth/Y/R channel in EXR (has {sorted(channels)})")
        return np.asarray(channels[name].pixels, dtype=np.float32)


def load_depth(path: str | os.PathLike, shape: Optional[tuple[int, int]] = None,
               png_scale: float = PNG16_DEPTH_SCALE) -> np.ndarray:
    """A z-depth map as float32 (H, W), 0 = invalid.

    Formats: ``.npy`` (float, depth units), 16-bit ``.png`` (integer depth x ``png_scale``, default
    millimetres -> metres), ``.exr`` (float; Z/depth/Y/R channel). ``shape`` = the image's (H, W).
    """
    path = _exists(Path(path), "depth")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{path}: not a numpy array file ({str(exc)[:80]})") from None
    elif suffix == ".png":
        import imageio.v3 as iio

        try:
            raw = np.asarray(iio.imread(path))
        except Exception as exc:  # imageio raises many types for undecodable, empty or truncated files
            raise InputError(f"{path}: not a readable PNG ({type(exc).__name__}); give a 16-bit depth PNG, .npy or .exr") from None
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise InputError(f"{path}: depth PNG must be single-channel 16-bit, got {raw.dtype} {raw.shape}")
        depth = raw.astype(np.float32) * png_scale
    elif suffix == ".exr":
        try:
            depth = _read_exr(path)
        except InputError:
            raise
        except Exception as exc:  # OpenEXR raises OSError/RuntimeError/TypeError for broken files
            raise InputError(f"{path}: not a readable EXR ({type(exc).__name__}); give a float EXR, .npy or 16-bit .png") from None
    else:
        raise InputError(f"{path}: unsupported depth format {suffix!r}; use .npy, 16-bit .png or .exr")
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
        raise InputError(f"{path}: depth must be a 2-D numeric array, got {depth.dtype} {depth.shape}")
    depth = depth.astype(np.float32)
    if not np.isfinite(depth).all():
        bad = int((~np.isfinite(depth)).sum())
        raise InputError(f"{path}: {bad} non-finite depth values; write 0 for invalid pixels")
    if (depth < 0).any():
        raise InputError(f"{path}: negative depth values; depth must be z-depth >= 0 (0 = invalid)")
    if not (depth > 0).any():
        raise InputError(f"{path}: every depth value is 0 (invalid)")
    if shape is not None and depth.shape != tuple(shape):
        raise InputError(f"{path}: depth is {depth.shape[1]}x{depth.shape[0]} but the image is {shape[1]}x{shape[0]}; "
                         "give a depth map of the image's size")
    return depth


def load_intrinsics(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """K (3, 3) in pixels from JSON ``{"K": [[...]]}`` (optionally with ``width``/``height`` it refers
    to; then it is rescaled to ``shape``) or a whitespace-separated 3x3 text file."""
    from ..camera import scale_intrinsics

    path = _exists(Path(path), "intrinsics")
    h, w = shape
    try:
        if path.suffix.lower() == ".json":
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            K = np.asarray(data["K"], dtype=np.float64)
            if "width" in data and "height" in data:
                K = scale_intrinsics(K, w / float(data["width"]), h / float(data["height"]))
        else:
            K = np.loadtxt(path, dtype=np.float64)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read a 3x3 K ({type(exc).__name__}: {exc}); "
                         'use JSON {"K": [[fx,0,cx],[0,fy,cy],[0,0,1]]}') from None
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"{path}: K must be a finite 3x3 matrix with positive focal lengths")
    return K


def resolve_intrinsics(shape: tuple[int, int], fov: Optional[float] = None, intrinsics: Optional[Any] = None,
                       estimated: Optional[np.ndarray] = None, exif: Any = None) -> tuple[np.ndarray, str]:
    """K for an image of ``shape`` (H, W, upright) and where it came from (run.json ``K_source``).

    The one order of precedence: the user's K (a file or matrix) > the user's ``fov`` > the
    photo's EXIF focal length (``exif``: an :class:`~worldstereo.pipelines.exif.ExifCamera`) > the
    depth model's estimate (``estimated``, e.g. Depth Pro's focal length) > a 60 degree default,
    logged as a warning.
    """
    h, w = shape
    if intrinsics is not None:
        if isinstance(intrinsics, (str, os.PathLike)):
            return load_intrinsics(intrinsics, shape), f"file:{intrinsics}"
        return np.asarray(intrinsics, dtype=np.float64), "given"
    if fov is not None:
        if not 1.0 <= fov <= 179.0:
            raise InputError(f"--fov {fov:g}: a horizontal field of view must be within 1..179 degrees")
        return intrinsics_from_fov(fov, w, h), f"fov:{fov:g}"
    if exif is not None:
        got = exif.K(w, h)
        if got is not None:
            return got
    if estimated is not None:
        return np.asarray(estimated, dtype=np.float64), "depth-model"
    log.warning("no --fov or --intrinsics for the input: assuming a 60 degree horizontal field of view")
    return intrinsics_from_fov(60.0, w, h), "default-fov:60"


def aspect_crop(h0: int, w0: int, h: int, w: int) -> tuple[int, int, int, int]:
    """The centred crop ``(x0, y0, width, height)`` of an ``h0 x w0`` image with the aspect of ``h x w``
    (to the nearest input pixel), so that resizing to the working size does not stretch the image."""
    if w0 * h > h0 * w:  # input wider than the working size: crop the sides
        wc, hc = min(w0, max(1, round(h0 * w / h))), h0
    else:
        wc, hc = w0, min(h0, max(1, round(w0 * h / w)))
    return (w0 - wc) // 2, (h0 - hc) // 2, wc, hc


def trajectory_source(t: Any) -> str:
    """``"preset"`` for a preset name, ``"file"`` for a trajectory file; anything else is one clear error."""
    if isinstance(t, CameraTrajectory):
        return "object"
    if isinstance(t, str) and t in PRESETS and not Path(t).exists():
        return "preset"
    p = Path(t)
    if not p.exists() and p.suffix.lower() != ".json":
        raise InputError(f"trajectory {str(t)!r}: neither a preset ({', '.join(PRESETS)}) nor a trajectory file; "
                         "check the spelling or give a .json from `worldstereo trajectory make`")
    return "file"


def sample_folder(x: Any) -> Optional[Path]:
    """A bundled sample name or a sample folder (holds meta.json) -> its folder."""
    if isinstance(x, np.ndarray):
        return None
    p = Path(x)
    if p.is_dir() and (p / "meta.json").is_file():
        return p
    from ..data.samples import SPECS, samples_dir

    if str(x) in SPECS and not p.exists():
        return samples_dir() / str(x)
    return None
