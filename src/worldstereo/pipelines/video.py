"""Writing videos and frame folders (outputs only: inside a run frames stay uint8 arrays and PNGs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 with rounding; uint8 passes through. Shape kept."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 16.0, quality: int = 8) -> Path:
    """H.264 mp4 of (F, H, W, 3) frames (float in [0, 1] or uint8; (F, H, W) masks become grey).

    Odd sizes are padded by one edge pixel (yuv420p needs even sizes) rather than resized.
    """
    import imageio.v2 as iio2

    frames = to_uint8(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"write_video: expected (F, H, W, 3) frames, got shape {frames.shape}")
    h, w = frames.shape[1:3]
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        writer = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=quality,
                                 macro_block_size=1, pixelformat="yuv420p", ffmpeg_log_level="error")
        try:
            for f in frames:
                writer.append_data(f)
        finally:
            writer.close()
    return Path(path)


def write_frames(folder: str | os.PathLike, frames: np.ndarray, prefix: str = "frame") -> list[Path]:
    """One lossless PNG per frame, ``{prefix}_{i:05d}.png``, each written atomically."""
    import imageio.v3 as iio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(to_uint8(frames)):
        p = folder / f"{prefix}_{i:05d}.png"
        with atomic_path(p) as tmp:
            iio.imwrite(tmp, f, extension=".png")
        out.append(p)
    return out


def read_frames(folder: str | os.PathLike, prefix: str = "frame") -> np.ndarray:
    """(F, H, W, 3) uint8 from the PNGs :func:`write_frames` wrote, in order."""
    import imageio.v3 as iio

    files = sorted(Path(folder).glob(f"{prefix}_*.png"))
    if not files:
        raise FileNotFoundError(f"{folder}: no {prefix}_*.png frames")
    return np.stack([iio.imread(f) for f in files])
