"""3D reconstruction of generated videos (seeds/worldstereo_reconstruction_api.txt): reconstruct_scene
(mvs / neural / hybrid), refine_mesh, optimize_textures, export_mesh, export_point_cloud."""

from .api import reconstruct_scene
from .config import ReconstructionConfig
from .export import MESH_FORMATS, POINT_FORMATS, export_mesh, export_point_cloud
from .metrics import quality_metrics
from .refine import refine_mesh
from .result import Mesh, PointCloud, ReconstructedScene
from .textures import optimize_textures

__all__ = [
    "reconstruct_scene", "ReconstructionConfig", "ReconstructedScene", "Mesh", "PointCloud",
    "refine_mesh", "optimize_textures", "export_mesh", "export_point_cloud", "quality_metrics",
    "MESH_FORMATS", "POINT_FORMATS",
]
