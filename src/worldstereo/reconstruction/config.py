"""ReconstructionConfig: every option of ``reconstruct_scene`` in one dataclass, a docstring per field.

The ``resolution`` mapping (one place): frames are resized so that their longer side is
``min(resolution, input longer side)`` (never upsampled), and the TSDF voxel size is
``max(scene_diagonal / (2 * resolution), median pixel footprint)``, so doubling ``resolution``
halves the voxel until the images themselves limit the detail.
``point_cloud_density`` sets the fused point spacing as a multiple of that voxel:
low = 2x, medium = 1x, high = 0.5x.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

METHODS = ("neural", "mvs", "hybrid")
DENSITIES = {"low": 2.0, "medium": 1.0, "high": 0.5}


@dataclass
class ReconstructionConfig:
    """Settings of the reconstruction; build with keywords, unknown names raise ``ValueError``."""

    method: str = "neural"
    """``mvs`` (plane-sweep stereo + TSDF), ``neural`` (SDF grid + MLP by volume rendering) or ``hybrid``."""
    resolution: int = 512
    """Working image long side cap and TSDF voxel scale (see the module docstring)."""
    depth_estimation: bool = True
    """Refine per-frame depth with the run's Cache3D when the input is a run directory."""
    point_cloud_density: str = "medium"
    """Fused point spacing: ``low`` | ``medium`` | ``high`` (2x, 1x, 0.5x the voxel size)."""
    panoramic_input: bool = False
    """Frames are equirectangular panoramas; each is cut into perspective views (90 deg FoV) first."""

    neural_iterations: int = 400
    """Optimisation steps of the neural surface (CPU default; use 10000+ on CUDA for quality)."""
    neural_batch_size: int = 512
    """Rays per step (CPU default; 8192 on CUDA)."""
    neural_grid_levels: int = 4
    """Levels of the multi-resolution feature grid."""
    neural_grid_base: int = 16
    """Cells per side of the coarsest level; each level doubles it."""
    neural_samples_per_ray: int = 8
    """Samples per ray for volume rendering (3/4 around the depth prior, 1/4 in the free space before it)."""
    neural_mesh_resolution: int = 160
    """Marching-cubes grid cells along the longest side of the scene box."""
    neural_learning_rate: float = 1e-2
    """Adam learning rate of the grid features and the MLP."""
    neural_convergence_tol: float = 0.01
    """Stop the fit before ``neural_iterations`` once it has converged: when the mean loss of 100 steps
    improves by less than this fraction over the best so far, the learning rate is cut to 0.3x; at the
    third such plateau the fit stops (0 = always run every iteration)."""
    neural_eikonal_weight: float = 0.05
    """Weight of the eikonal term (|grad SDF| = 1)."""
    neural_depth_weight: float = 10.0
    """Weight of the depth supervision (SDF = 0 at MVS / cache surface points, rendered depth)."""
    hybrid_min_score: float = 0.6
    """hybrid: a pixel's chosen depth (MVS or neural) is fused only if its multi-view photometric agreement
    (``hybrid.photo_scores``, 0..1) reaches this."""
    device: Optional[str] = None
    """Torch device for the neural method; ``None`` = CUDA when available, else CPU."""

    mvs_min_views: int = 3
    """A depth survives only if it agrees with the reference view in at least this many views in all."""
    mvs_geometric_consistency: bool = True
    """Filter depths by forward-backward reprojection against the neighbours' depths."""
    mvs_num_neighbors: int = 4
    """Source views per reference view (closest centres among views that look the same way)."""
    mvs_num_depths: int = 64
    """Plane-sweep hypotheses, uniform in inverse depth."""
    mvs_window: int = 5
    """NCC window side in pixels (odd)."""
    mvs_min_ncc: float = 0.5
    """Depths whose aggregated NCC is below this are dropped."""
    depth_range: Optional[tuple[float, float]] = None
    """(near, far) z-depth search range; ``None`` = from the Cache3D or the camera layout."""

    mesh_cleanup: bool = True
    """Run ``refine_mesh`` (small components, holes) on the fused mesh."""
    outlier_removal: bool = True
    """Statistical outlier removal on the fused point cloud and small-component removal on the mesh."""
    smoothing_iterations: int = 0
    """Taubin smoothing iterations on the final mesh (0 = off)."""
    texture_resolution: int = 1024
    """Side of the baked texture atlas (power of two)."""
    bake_textures: bool = True
    """Bake albedo / normal / roughness textures (``optimize_textures``) at the end."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    """Free-form notes kept in the metadata (not read by the pipeline)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if self.point_cloud_density not in DENSITIES:
            raise ValueError(f"point_cloud_density: {self.point_cloud_density!r} is not one of {', '.join(DENSITIES)}")
        if not isinstance(self.resolution, int) or self.resolution < 32:
            raise ValueError(f"resolution: must be an integer >= 32, got {self.resolution!r}")
        if self.mvs_min_views < 2:
            raise ValueError(f"mvs_min_views: must be >= 2 (the reference view counts), got {self.mvs_min_views}")
        if self.mvs_num_neighbors < 1 or self.mvs_num_depths < 4 or self.mvs_window % 2 == 0:
            raise ValueError("mvs_num_neighbors >= 1, mvs_num_depths >= 4 and an odd mvs_window are required")
        if self.neural_iterations < 0 or self.neural_batch_size < 1:
            raise ValueError("neural_iterations must be >= 0 and neural_batch_size >= 1")
        if self.texture_resolution < 16 or self.texture_resolution & (self.texture_resolution - 1):
            raise ValueError(f"texture_resolution: must be a power of two >= 16, got {self.texture_resolution}")
        if not 0 <= self.hybrid_min_score <= 1:
            raise ValueError(f"hybrid_min_score: must lie in [0, 1], got {self.hybrid_min_score}")
        if self.depth_range is not None and not 0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f"depth_range: need 0 < near < far, got {self.depth_range}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes: Any) -> "ReconstructionConfig":
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"ReconstructionConfig: unknown option(s) {', '.join(unknown)}; valid: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_plain_init = ReconstructionConfig.__init__


def _checked_init(self, *args: Any, **kwargs: Any) -> None:
    unknown = sorted(set(kwargs) - set(ReconstructionConfig.field_names()))
    if unknown:
        raise ValueError(
            f"ReconstructionConfig: unknown option(s) {', '.join(unknown)}; valid: {', '.join(ReconstructionConfig.field_names())}"
        )
    _plain_init(self, *args, **kwargs)


# The dataclass __init__ raises TypeError for unknown keywords; the issue wants a ValueError that
# names the valid options, so the generated __init__ is wrapped once here.
ReconstructionConfig.__init__ = _checked_init  # type: ignore[method-assign]
