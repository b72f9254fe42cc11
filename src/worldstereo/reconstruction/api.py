"""reconstruct_scene: frames + cameras -> ReconstructedScene (mesh, points, textures, metrics).

Steps: 1 read and resize the inputs; 2 depth per frame by plane-sweep MVS (+ Cache3D prior);
3 geometric-consistency filter (+ growth into agreeing neighbours); 4 surface by TSDF fusion (mvs), neural
SDF (neural) or the TSDF fusion of the more photo-consistent of both depths per pixel (hybrid); 5 clean-up;
6 point cloud; 7 quality metrics; 8 textures; 9 write the scene directory.
"""

from __future__ import annotations

import inspect
import logging
import time
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from ..camera import Cameras
from .config import DENSITIES, METHODS, ReconstructionConfig
from .fusion import depth_points, tsdf_fuse, voxel_size_for
from .inputs import FrameSet, load_inputs
from .metrics import quality_metrics
from .mvs import (
    geometric_filter,
    grow_consistent,
    photo_check,
    plane_sweep,
    prior_ranges,
    scene_center_and_depth,
    select_neighbors,
    splat_depth,
)
from .raycast import MeshCaster, vertex_colors_from_views
from .refine import refine_mesh
from .result import PointCloud, ReconstructedScene, cloud_from_open3d

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


def _dedupe(fs: FrameSet) -> FrameSet:
    """Drop frames whose camera repeats an earlier one (every default trajectory starts at the input
    view): they add no parallax and would fake agreement in the consistency filter."""
    T = fs.cameras.cam_from_world
    keep: list[int] = []
    for k in range(len(T)):
        if not any(np.abs(T[k] - T[j]).max() < 1e-6 and np.abs(fs.cameras.K[k] - fs.cameras.K[j]).max() < 1e-6 for j in keep):
            keep.append(k)
    idx = np.asarray(keep)
    return FrameSet(fs.frames[idx], fs.cameras[idx], fs.segment[idx], fs.cache_points, fs.cache_colors)


def _point_cloud(depth: np.ndarray, frames: np.ndarray, cams: Cameras, spacing: float, outliers: bool) -> PointCloud:
    """Fused points of the filtered depth, downsampled to ``spacing``, normals facing the cameras."""
    import open3d as o3d

    pts, cols = depth_points(depth, cams, frames)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    pcd.colors = o3d.utility.Vector3dVector(cols.astype(np.float64))
    pcd = pcd.voxel_down_sample(spacing)
    if outliers and len(pcd.points) > 50:
        pcd, _ = pcd.remove_statistical_outlier(nb_neighbors=16, std_ratio=2.5)
    if len(pcd.points) >= 8:
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * spacing, max_nn=30))
        # orient each normal toward the nearest camera centre (points are seen from there)
        P = np.asarray(pcd.points)
        c = cams.centers[np.argmin(((P[:, None] - cams.centers[None]) ** 2).sum(-1), 1)]
        n = np.asarray(pcd.normals)
        n *= np.where(((c - P) * n).sum(1, keepdims=True) < 0, -1.0, 1.0)
        pcd.normals = o3d.utility.Vector3dVector(n)
    return cloud_from_open3d(pcd)


def _merged_config(config: Optional[ReconstructionConfig], explicit: dict) -> ReconstructionConfig:
    """``config`` (or the defaults) overridden by the keyword arguments that differ from the defaults."""
    defaults = {k: p.default for k, p in inspect.signature(reconstruct_scene).parameters.items()}
    changes = {k: v for k, v in explicit.items() if v != defaults[k]}
    if config is None:
        return ReconstructionConfig(**explicit)
    if not isinstance(config, ReconstructionConfig):
        raise ValueError(f"config: expected a ReconstructionConfig, got {type(config).__name__}")
    return config.replace(**changes)


def reconstruct_scene(
    video_path, camera_trajectory, output_path, method: str = "neural", resolution: int = 512,
    depth_estimation: bool = True, point_cloud_density: str = "medium", config: Optional[ReconstructionConfig] = None,
    panoramic_input: bool = False, *, progress: Union[Progress, bool, None] = True,
) -> ReconstructedScene:
    """Reconstruct a scene from video(s) with known cameras.

    Args:
        video_path: a video file or a folder of frames, a list of them (one per trajectory), or a
            pipeline run directory (all its trajectories, cameras and ``cache.ply`` are used).
        camera_trajectory: CameraTrajectory / Cameras / .json path, or a list (one per video);
            ``None`` for a run directory.
        output_path: scene directory to write (see ``result.py``); ``None`` writes nothing.
        method: ``mvs`` | ``neural`` | ``hybrid``.
        resolution, point_cloud_density: see ``config.py`` for the mapping to image size / voxel / spacing.
        depth_estimation: use the run's Cache3D as a depth prior (range per view, and filling pixels
            where stereo fails but the prior depth is photo-consistent).
        config: every other option; keyword arguments that differ from their defaults override it.
        panoramic_input: frames are equirectangular panoramas (cut into 4 perspective views each).
        progress: ``True`` (default): progress bars with an ETA on stderr, the CLI's display;
            ``False``/``None``: silent; or a callback ``(step, done, total)`` for long steps.

    With ``bake_textures`` (default) the returned mesh is the UV-atlas mesh of ``optimize_textures``
    (decimated to at most 12 000 faces; the full mesh's detail lives in the normal map); set
    ``bake_textures=False`` to keep the full-resolution fused mesh.
    """
    if progress is True:  # a Python caller gets the CLI's bars unless it asks for silence
        from ..progress import ProgressDisplay

        with ProgressDisplay(transient=True) as display:
            return reconstruct_scene(video_path, camera_trajectory, output_path, method, resolution, depth_estimation,
                                     point_cloud_density, config, panoramic_input, progress=display.step_callback())
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if point_cloud_density not in DENSITIES:
        raise ValueError(f"point_cloud_density: {point_cloud_density!r} is not one of {', '.join(DENSITIES)}")
    cfg = _merged_config(config, dict(method=method, resolution=resolution, depth_estimation=depth_estimation,
                                      point_cloud_density=point_cloud_density, panoramic_input=panoramic_input))
    report = progress or (lambda step, done, total: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        timings[name] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()

    # 1 inputs
    fs = _dedupe(load_inputs(video_path, camera_trajectory, cfg.resolution, cfg.panoramic_input))
    frames, cams = fs.frames, fs.cameras
    if len(cams) < cfg.mvs_min_views:
        raise ValueError(f"video_path: {len(cams)} distinct views, but mvs_min_views={cfg.mvs_min_views} are needed")
    lap("load")

    # 2 depth by MVS, with the Cache3D as prior when asked for and present
    # the cameras look at the scene: the distance to where their axes meet sets the default range
    # and the view selection (the Cache3D, when used, narrows the range per view)
    _, look_depth = scene_center_and_depth(cams)
    use_prior = cfg.depth_estimation and fs.cache_points is not None and len(fs.cache_points) > 0
    prior = splat_depth(fs.cache_points, cams) if use_prior else None
    near, far = cfg.depth_range or (0.2 * look_depth, 6.0 * look_depth)
    near_far = prior_ranges(prior, (near, far)) if prior is not None and cfg.depth_range is None else None
    neighbors = select_neighbors(cams, look_depth, cfg.mvs_num_neighbors)
    depth, _ = plane_sweep(frames, cams, near, far, neighbors=neighbors, num_depths=cfg.mvs_num_depths,
                           window=cfg.mvs_window, min_ncc=cfg.mvs_min_ncc, near_far=near_far,
                           progress=lambda d, t: report("depth", d, t))
    lap("mvs_depth")

    # 3 geometric consistency
    check = select_neighbors(cams, look_depth, max(6, cfg.mvs_num_neighbors))
    if cfg.mvs_geometric_consistency:
        kept, _ = geometric_filter(depth, cams, check, cfg.mvs_min_views, px_tol=1.5, rel_tol=0.02)
        depth = grow_consistent(depth, kept, rel_tol=0.02, min_support=3, iterations=4)
    if prior is not None:
        ncc = photo_check(frames, cams, np.where(depth > 0, 0, prior), neighbors, cfg.mvs_window)
        fill = (depth == 0) & (ncc >= cfg.mvs_min_ncc)
        depth = np.where(fill, prior, depth).astype(np.float32)
        log.info("Cache3D prior filled %.1f %% of the pixels", 100 * fill.mean())
    if not (depth > 0).any():
        raise ValueError("reconstruction: no pixel has a multi-view-consistent depth; the frames may be too "
                         "textureless or the cameras wrong (try mvs_geometric_consistency=False or another depth_range)")
    lap("filter")

    # 4 surface
    pts, _ = depth_points(depth, cams)
    median_depth = float(np.median(depth[depth > 0]))
    voxel, diag = voxel_size_for(pts, cams, cfg.resolution, median_depth)
    if cfg.method == "mvs":
        mesh, _ = tsdf_fuse(depth, frames, cams, voxel, progress=lambda d, t: report("fusion", d, t))
        lap("fusion")
    else:
        from .neural import fit_neural_surface

        mesh = fit_neural_surface(frames, cams, depth, voxel, cfg, progress=lambda d, t: report("neural", d, t))
        lap("neural")
        if cfg.method == "hybrid":
            from .hybrid import hybrid_depth

            chosen = hybrid_depth(depth, mesh, frames, cams, cfg.hybrid_min_score)
            mesh, _ = tsdf_fuse(chosen, frames, cams, voxel, progress=lambda d, t: report("fusion", d, t))
            lap("hybrid_fusion")

    # 5 clean-up, colours from the views where the TSDF gave none
    if cfg.mesh_cleanup or cfg.smoothing_iterations:
        mesh = refine_mesh(mesh, remove_outliers=cfg.outlier_removal and cfg.mesh_cleanup, smooth_normals=False,
                           fill_holes=cfg.mesh_cleanup, smoothing_iterations=cfg.smoothing_iterations)
    render = MeshCaster(mesh).render(cams)
    if mesh.colors is None or cfg.method != "mvs":
        mesh.colors = vertex_colors_from_views(mesh, frames, cams, render)
    lap("cleanup")

    # 6 point cloud
    pcd = _point_cloud(depth, frames, cams, voxel * DENSITIES[cfg.point_cloud_density], cfg.outlier_removal)
    lap("points")

    # 7 metrics
    metrics = quality_metrics(mesh, frames, cams, depth, render)
    lap("metrics")
    scene = ReconstructedScene(
        mesh, pcd, cams, {}, frames=frames,
        metadata={
            "quality_metrics": metrics,
            "parameters": {**cfg.to_dict(), "voxel_size": voxel, "scene_diagonal": diag, "median_depth": median_depth,
                           "depth_range": [near, far], "views": len(cams), "image_size": [cams.width, cams.height],
                           "used_cache_prior": prior is not None},
            "timings": timings,
        },
    )

    # 8 textures
    if cfg.bake_textures:
        from .textures import optimize_textures

        scene = optimize_textures(scene, texture_resolution=cfg.texture_resolution)
        lap("textures")
    timings["total"] = round(sum(timings.values()), 3)

    # 9 output
    if output_path is not None:
        scene.save(Path(output_path))
    log.info("reconstructed %d vertices, %d points; metrics %s", len(mesh.vertices), len(pcd.points), metrics)
    return scene
