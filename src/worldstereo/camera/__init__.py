"""Cameras, trajectories and camera file formats. The camera convention lives in ``cameras.py``."""

from .cameras import Cameras, CameraValidationError, crop_intrinsics, intrinsics_from_fov, scale_intrinsics
from .rays import pixel_centers, plucker_rays, ray_directions
from .presets import (
    DEFAULT_FPS,
    DEFAULT_FRAMES,
    PLAN_ORDER,
    PRESET_DEGREES,
    PRESETS,
    SmoothnessReport,
    check_smoothness,
    default_plan,
    dolly,
    orbit,
    pan,
    preset,
    resample,
    rotate,
    spline,
    truck,
    zoom,
)
from .trajectory import CameraTrajectory, TrajectoryFileError, load_trajectory, save_trajectory
from .transforms import look_at, rigid, rotation_about_point

__all__ = [
    "Cameras", "CameraValidationError", "crop_intrinsics", "intrinsics_from_fov", "scale_intrinsics",
    "pixel_centers", "plucker_rays", "ray_directions",
    "CameraTrajectory", "TrajectoryFileError", "load_trajectory", "save_trajectory",
    "DEFAULT_FPS", "DEFAULT_FRAMES", "PLAN_ORDER", "PRESETS", "PRESET_DEGREES", "preset", "SmoothnessReport", "check_smoothness", "default_plan",
    "dolly", "orbit", "pan", "resample", "rotate", "spline", "truck", "zoom",
    "look_at", "rigid", "rotation_about_point",
]
