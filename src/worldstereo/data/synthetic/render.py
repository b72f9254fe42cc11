"""Exact rendering of a :class:`Scene` by ray casting (Open3D ``RaycastingScene``, CPU, no GL).

One ray per pixel centre, (u, v) = (j + 0.5, i + 0.5), in the project's camera convention. The
ray direction of a perspective pixel is ``R^T K^-1 (u, v, 1)`` (not normalised), so Open3D's hit
distance ``t_hit`` *is* the z-depth along the optical axis. The colour is the bilinear texture
lookup at the hit's interpolated texture coordinate (triangle id + barycentrics from Open3D).

Shading: ``"none"`` (flat, unlit: the texture colour; the default, best for feature matching) or
``"lambert"`` (``ambient + (1 - ambient) max(0, n . l)`` with one directional light).
Pixels whose ray hits nothing get colour 0, depth 0 and object id -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...camera import Cameras
from ...camera.panorama import equirect_directions
from .world import Scene

# Direction toward the light for Lambert shading: from above (-y), a little to the right and behind.
DEFAULT_LIGHT = np.array([0.3, -1.0, -0.4]) / np.linalg.norm([0.3, -1.0, -0.4])
_RAYS_PER_CALL = 1 << 20  # bounds the memory of one Open3D call (~100 MB of inputs and outputs)


@dataclass(frozen=True)
class RenderOutput:
    """Per-frame ground truth, F frames of H x W pixels.

    frames (F, H, W, 3) float32 in [0, 1]; depth (F, H, W) float32 z-depth in metres, 0 = no hit;
    normals (F, H, W, 3) float32 unit world normals of the hit triangle, turned to face the camera;
    xyz (F, H, W, 3) float32 world coordinates of the hit; object_ids (F, H, W) int32, -1 = no hit.
    """

    frames: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    xyz: np.ndarray
    object_ids: np.ndarray


@dataclass(frozen=True)
class PanoramaOutput:
    """An equirectangular render (convention of ``worldstereo.camera.panorama``), H x 2H pixels.

    rgb (H, W, 3) float32; distance (H, W) float32 ray length from the centre in metres (a panorama
    has no optical axis, so this is distance, not z-depth), 0 = no hit; object_ids (H, W) int32.
    """

    rgb: np.ndarray
    distance: np.ndarray
    object_ids: np.ndarray


def _check_shading(shading: str, ambient: float) -> None:
    if shading not in ("none", "lambert"):
        raise ValueError(f"shading: {shading!r} is not 'none' or 'lambert'")
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient: must be in [0, 1], got {ambient}")


def cast(scene: Scene, origins: np.ndarray, directions: np.ndarray, shading: str = "none",
         light: np.ndarray = DEFAULT_LIGHT, ambient: float = 0.35) -> dict[str, np.ndarray]:
    """Cast (P, 3) rays and shade the hits.

    Returns ``t`` (P,) hit parameter in units of the direction's length (0 = miss), ``rgb`` (P, 3),
    ``normals`` (P, 3), ``xyz`` (P, 3) and ``object_ids`` (P,) (-1 = miss).
    """
    import open3d as o3d

    _check_shading(shading, ambient)
    P = len(origins)
    out = {
        "t": np.zeros(P, np.float32), "rgb": np.zeros((P, 3), np.float32), "normals": np.zeros((P, 3), np.float32),
        "xyz": np.zeros((P, 3), np.float32), "object_ids": np.full(P, -1, np.int32),
    }
    rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
    light32 = np.asarray(light, np.float32)
    for s in range(0, P, _RAYS_PER_CALL):
        chunk = slice(s, min(s + _RAYS_PER_CALL, P))
        hit = scene.raycaster.cast_rays(o3d.core.Tensor(rays[chunk]))
        t = hit["t_hit"].numpy()
        ok = np.isfinite(t)
        # every pixel hits in closed scenes: skip the boolean gathers then
        sel = slice(None) if ok.all() else ok
        t = t[sel]
        tri = hit["primitive_ids"].numpy()[sel].astype(np.int64)
        b = hit["primitive_uvs"].numpy()[sel]
        # Open3D barycentrics (b1, b2): hit = (1 - b1 - b2) v0 + b1 v1 + b2 v2
        corners = scene.triangle_uvs[tri]
        uv = corners[:, 0] + b[:, :1] * (corners[:, 1] - corners[:, 0]) + b[:, 1:] * (corners[:, 2] - corners[:, 0])
        rgb = scene.atlas.sample(scene.triangle_texture[tri], uv)
        d = rays[chunk, 3:][sel]
        n = hit["primitive_normals"].numpy()[sel]
        n *= np.where(np.einsum("pc,pc->p", n, d) > 0, -1.0, 1.0).astype(np.float32)[:, None]
        if shading == "lambert":
            rgb *= (ambient + (1.0 - ambient) * np.clip(n @ light32, 0.0, None))[:, None]
        out["t"][chunk][sel] = t
        out["rgb"][chunk][sel] = rgb
        out["normals"][chunk][sel] = n
        out["xyz"][chunk][sel] = rays[chunk, :3][sel] + t[:, None] * d
        out["object_ids"][chunk][sel] = scene.triangle_object[tri]
    return out


def camera_rays(cameras: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """Origins and directions (F*H*W, 3), float64, of the pixel-centre rays of every camera.

    Directions are ``R^T K^-1 (u, v, 1)``: their camera-frame z component is 1, so a hit at
    parameter t lies at z-depth t.
    """
    H, W = cameras.height, cameras.width
    v, u = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    pix = np.stack([u.ravel(), v.ravel(), np.ones(H * W)], 0)  # (3, H*W)
    cam_dirs = np.linalg.inv(cameras.K) @ pix  # (F, 3, H*W)
    world_dirs = np.matmul(np.transpose(cameras.R, (0, 2, 1)), cam_dirs).transpose(0, 2, 1)  # R^T d
    origins = np.broadcast_to(cameras.centers[:, None, :], world_dirs.shape)
    return origins.reshape(-1, 3), world_dirs.reshape(-1, 3)


def render(scene: Scene, cameras: Cameras, shading: str = "none", light: np.ndarray = DEFAULT_LIGHT,
           ambient: float = 0.35) -> RenderOutput:
    """Render ``scene`` from every camera at the cameras' image size (see :class:`RenderOutput`)."""
    if not isinstance(cameras, Cameras):
        raise ValueError(f"render: cameras must be worldstereo.camera.Cameras, got {type(cameras).__name__}")
    F, H, W = len(cameras), cameras.height, cameras.width
    origins, dirs = camera_rays(cameras)
    hit = cast(scene, origins, dirs, shading, np.asarray(light, np.float64), ambient)
    return RenderOutput(
        frames=hit["rgb"].reshape(F, H, W, 3),
        depth=hit["t"].reshape(F, H, W),
        normals=hit["normals"].reshape(F, H, W, 3),
        xyz=hit["xyz"].reshape(F, H, W, 3),
        object_ids=hit["object_ids"].reshape(F, H, W),
    )


def render_panorama(scene: Scene, center: np.ndarray, height: int, shading: str = "none",
                    light: np.ndarray = DEFAULT_LIGHT, ambient: float = 0.35) -> PanoramaOutput:
    """Equirectangular render (H = ``height``, W = 2H) from ``center`` (3,), with the world axes
    of the scene (forward = +z at the image centre, up = -y at the top row)."""
    if not isinstance(height, (int, np.integer)) or height < 2:
        raise ValueError(f"render_panorama: height must be an integer >= 2, got {height!r}")
    center = np.asarray(center, dtype=np.float64).reshape(3)
    W = 2 * int(height)
    dirs = equirect_directions(int(height), W).numpy().reshape(-1, 3)
    origins = np.broadcast_to(center, dirs.shape)
    hit = cast(scene, origins, dirs, shading, np.asarray(light, np.float64), ambient)
    return PanoramaOutput(
        rgb=hit["rgb"].reshape(height, W, 3),
        distance=hit["t"].reshape(height, W),
        object_ids=hit["object_ids"].reshape(height, W),
    )
