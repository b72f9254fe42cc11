"""Synthetic scene engine: procedural textured scenes and exact ray-cast ground truth.

``make_scene(seed, kind)`` builds a :class:`Scene`; ``render`` and ``render_panorama`` ray-cast it
(Open3D, CPU) into images, z-depth, normals, world xyz and object ids.
"""

from .layouts import KINDS, make_scene
from .render import PanoramaOutput, RenderOutput, camera_rays, render, render_panorama
from .world import Scene, SurfaceSamples
from .textures import PATTERNS, make_texture

__all__ = [
    "KINDS", "make_scene", "Scene", "SurfaceSamples",
    "render", "render_panorama", "RenderOutput", "PanoramaOutput", "camera_rays",
    "PATTERNS", "make_texture",
]
