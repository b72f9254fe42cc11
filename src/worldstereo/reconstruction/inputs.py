"""Inputs of ``reconstruct_scene``: a video file, a folder of PNGs, a list of those (one per
trajectory) or a pipeline run directory -> frames (N, H, W, 3) float32 + Cameras (+ Cache3D points).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from ..camera import Cameras, CameraTrajectory, load_trajectory, scale_intrinsics
from ..camera.panorama import directions_to_equirect
from ..memory.ply import read_ply
from ..runlayout import RunLayout, video_context_path

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")
PathLike = Union[str, os.PathLike, np.ndarray]


@dataclass
class FrameSet:
    """Frames (N, H, W, 3) float32 in [0, 1], their cameras, the trajectory each frame belongs to
    (N,) int and, for run directories, the Cache3D points (P, 3) / colours (P, 3)."""

    frames: np.ndarray
    cameras: Cameras
    segment: np.ndarray
    cache_points: Optional[np.ndarray] = None
    cache_colors: Optional[np.ndarray] = None


def read_frames(path: PathLike) -> np.ndarray:
    """Frames (F, H, W, 3) float32 of a video file, a folder of images (sorted by name) or an
    in-memory array (F, H, W, 3) in [0, 1] (passed through)."""
    import imageio.v3 as iio

    if isinstance(path, np.ndarray):
        if path.ndim != 4 or path.shape[-1] != 3:
            raise ValueError(f"video array: expected (F, H, W, 3) in [0, 1], got shape {path.shape}")
        return np.clip(path, 0, 1).astype(np.float32)
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise ValueError(f"{p}: folder holds no .png/.jpg frames")
        arr = np.stack([iio.imread(f) for f in files])
    elif p.is_file():
        if p.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{p}: unsupported video type {p.suffix!r}; use one of {', '.join(VIDEO_SUFFIXES)} or a folder of PNGs")
        arr = np.asarray(iio.imread(p))
    else:
        raise FileNotFoundError(f"video {p} does not exist; pass a video file, a folder of frames or a run directory")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, -1)
    arr = arr[..., :3]
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0 if arr.dtype == np.uint8 else 1.0
    return (arr.astype(np.float32) / scale).clip(0, 1)


def _is_run_dir(p: Path) -> bool:
    return p.is_dir() and (p / "trajectories").is_dir()


def _read_run(run: Path) -> tuple[list[np.ndarray], list[CameraTrajectory], Optional[np.ndarray], Optional[np.ndarray]]:
    traj_dirs = sorted(d for d in (run / "trajectories").iterdir() if (d / "cameras.json").is_file())
    if not traj_dirs:
        raise ValueError(f"{run}: run directory has no trajectories/<name>/cameras.json")
    videos, trajs = [], []
    for d in traj_dirs:
        src = d / "frames" if (d / "frames").is_dir() else d / "video.mp4"
        videos.append(read_frames(src))
        trajs.append(load_trajectory(d / "cameras.json"))
    pts = cols = None
    layout = RunLayout(run)
    if layout.cache.is_file():
        pts, cols = _cache_points(layout.cache)
        log.info("run %s: Cache3D with %d points", run, len(pts))
    return videos, trajs, pts, cols


def _cache_points(path: Path) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(P, 3) points and (P, 3) colours (or None) of a Cache3D's PLY, read by the cache's own reader
    (``memory.ply``; any point-cloud PLY works, so a run assembled by hand may bring its own)."""
    pc = read_ply(path)
    return np.asarray(pc.xyz, np.float64), None if pc.rgb is None else np.asarray(pc.rgb, np.float64)


def _panorama_context(paths: list) -> tuple[np.ndarray, np.ndarray]:
    """The Cache3D context of videos generated from a panorama: ``<video>.cache.ply`` beside each."""
    pts, cols = [], []
    for p in paths:
        ctx = None if isinstance(p, np.ndarray) else video_context_path(p)
        if ctx is None or not ctx.is_file():
            raise ValueError(f"panoramic_input: {'the frames' if ctx is None else p} are perspective views and no "
                             f"panorama context was found{'' if ctx is None else f' at {ctx}'}; save the video of "
                             "generate_from_panorama with video.save(...) (it writes the context beside it), or "
                             "pass equirectangular frames (W = 2H)")
        a, b = _cache_points(ctx)
        pts.append(a)
        cols.append(np.full_like(a, 0.5) if b is None else b)
    return np.concatenate(pts), np.concatenate(cols)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _trajectory_cameras(t) -> Cameras:
    if isinstance(t, CameraTrajectory):
        return t.cameras
    if isinstance(t, Cameras):
        return t
    if isinstance(t, (str, os.PathLike)):
        return load_trajectory(t).cameras
    raise ValueError(f"camera_trajectory: expected a CameraTrajectory, Cameras or a trajectory .json path, got {type(t).__name__}")


def panorama_views(frames: np.ndarray, cams: Cameras, size: Optional[int] = None) -> tuple[np.ndarray, Cameras]:
    """Cut each equirectangular frame (N, H, 2H, 3) into 4 perspective views (yaw 0/90/180/270 deg,
    90 deg FoV, ``size`` px square, default H/2). ``cams`` are the panorama centres' cameras (their
    forward view); the views share each centre. Returns (4N, S, S, 3) frames and 4N cameras."""
    n, H, W, _ = frames.shape
    if W != 2 * H:
        raise ValueError(f"panoramic_input: frames must be equirectangular (W = 2H), got {W}x{H}")
    s = size or H // 2
    K = np.array([[s / 2, 0, s / 2], [0, s / 2, s / 2], [0, 0, 1.0]])
    jj, ii = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5)
    rays = np.stack([(jj - s / 2) / (s / 2), (ii - s / 2) / (s / 2), np.ones_like(jj)], -1)
    out, Ks, Ts = [], [], []
    for yaw in (0.0, 90.0, 180.0, 270.0):
        a = np.deg2rad(yaw)
        pano_from_view = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        uv = directions_to_equirect(rays @ pano_from_view.T, H, W).astype(np.float32) - 0.5
        view_from_pano = np.eye(4)
        view_from_pano[:3, :3] = pano_from_view.T
        for k in range(n):
            out.append(cv2.remap(frames[k], uv[..., 0], uv[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP))
            Ks.append(K)
            Ts.append(view_from_pano @ cams.cam_from_world[k])
    return np.stack(out), Cameras(np.stack(Ks), np.stack(Ts), s, s)


def load_inputs(
    video_path: Union[PathLike, Sequence[PathLike]],
    camera_trajectory=None,
    resolution: int = 512,
    panoramic_input: bool = False,
) -> FrameSet:
    """Frames and cameras of any accepted input, resized so the long side is <= ``resolution``.

    ``camera_trajectory``: one trajectory (CameraTrajectory, Cameras or .json path) per video, or
    ``None`` for a run directory (its own ``cameras.json`` files are used).
    """
    paths = _as_list(video_path)
    cache_pts = cache_cols = None
    if len(paths) == 1 and not isinstance(paths[0], np.ndarray) and _is_run_dir(Path(paths[0])):
        videos, trajs, cache_pts, cache_cols = _read_run(Path(paths[0]))
        cams_list = [t.cameras for t in trajs] if camera_trajectory is None else [_trajectory_cameras(t) for t in _as_list(camera_trajectory)]
    else:
        if camera_trajectory is None:
            raise ValueError("camera_trajectory: required unless video_path is a run directory")
        videos = [read_frames(p) for p in paths]
        cams_list = [_trajectory_cameras(t) for t in _as_list(camera_trajectory)]
        if panoramic_input and all(v.shape[2] != 2 * v.shape[1] for v in videos):
            # perspective frames generated from a panorama: its 360° points (saved beside the video by
            # GeneratedVideo.save) are the context, as a run's Cache3D is
            cache_pts, cache_cols, panoramic_input = *_panorama_context(paths), False
    if len(cams_list) != len(videos):
        raise ValueError(f"camera_trajectory: {len(cams_list)} trajectories for {len(videos)} videos; pass one per video")
    frames_all, cams_all, seg = [], [], []
    for i, (v, c) in enumerate(zip(videos, cams_list)):
        if len(v) != len(c):
            where = "video" if isinstance(paths[0], np.ndarray) else paths[min(i, len(paths) - 1)]
            raise ValueError(f"{where} {i}: {len(v)} frames but the trajectory has {len(c)} cameras; they must match")
        if panoramic_input:
            v, c = panorama_views(v, c)
        H, W = v.shape[1:3]
        if (W, H) != (c.width, c.height):
            # the trajectory may be written for another image size: K follows the frames
            c = Cameras(scale_intrinsics(c.K, W / c.width, H / c.height), c.cam_from_world, W, H)
        scale = min(1.0, resolution / max(H, W))
        if scale < 1.0:
            w, h = max(8, round(W * scale)), max(8, round(H * scale))
            v = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in v])
            c = c.resized(w, h)
        frames_all.append(v)
        cams_all.append(c)
        seg.append(np.full(len(v), i))
    sizes = {(c.width, c.height) for c in cams_all}
    if len(sizes) > 1:
        raise ValueError(f"videos have different frame sizes {sorted(sizes)}; resize them to one size")
    return FrameSet(np.concatenate(frames_all).astype(np.float32), Cameras.concat(cams_all), np.concatenate(seg), cache_pts, cache_cols)
