"""optimize_textures: UV atlas (xatlas), albedo baked from the frames, normal and roughness maps.

- Atlas: the mesh is decimated to at most ``max_faces`` faces first (xatlas costs ~0.2 ms per face);
  the full mesh stays the "high-resolution mesh" from which the normal map is baked.
- Albedo: every texel takes the colour of its face's best view (largest ``cos(angle) / distance^2``
  among views where the face centre passes the depth test). With ``seam_blending`` the texels near
  chart borders and near faces whose best view differs are feathered toward a score-weighted
  blend of the three best views, and empty texels (gutters) are filled from the nearest chart
  texel so bilinear filtering never reads background.
- Normal map: tangent space (glTF / OpenGL +y), the high-resolution mesh's interpolated normal at
  the closest point, expressed in the atlas mesh's per-face tangent frame.
- Roughness: per face ``clip(1 - 4 * std)`` of the face centre's colour over its visible views
  (view-dependent colour means a glossier surface), in [0.2, 1].
- ``super_resolution``: explicit 2x Lanczos-4 upsampling of the albedo (no learned model);
  ``enhance_details``: unsharp mask (Gaussian sigma 1 texel, amount 0.5).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional

import cv2
import numpy as np
from scipy import ndimage

from .raycast import MeshCaster, sample_frames, visible_points
from .refine import simplify_mesh
from .result import Mesh, ReconstructedScene

log = logging.getLogger(__name__)


def uv_atlas(mesh: Mesh, resolution: int) -> Mesh:
    """Mesh with per-vertex UVs from xatlas (seam vertices duplicated); v up (OBJ convention)."""
    import xatlas

    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear = resolution, 2, True
    charts = xatlas.ChartOptions()
    charts.max_iterations = 1
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    atlas.generate(charts, pack)
    vmap, faces, uvs = atlas[0]
    pick = lambda a: None if a is None else a[vmap]  # noqa: E731
    return Mesh(mesh.vertices[vmap], faces.astype(np.int64), pick(mesh.normals), pick(mesh.colors), uvs)


def rasterize_uv(mesh: Mesh, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Face id (T, T) (-1 = empty) and barycentrics (T, T, 2) of every texel centre; row 0 = v = 1."""
    flat = Mesh(np.concatenate([mesh.uvs * T, np.zeros((len(mesh.uvs), 1))], 1), mesh.faces)
    caster = MeshCaster(flat)
    j, i = np.meshgrid(np.arange(T) + 0.5, np.arange(T) + 0.5)
    origins = np.stack([j.ravel(), T - i.ravel(), np.ones(T * T)], 1)
    dirs = np.tile([0.0, 0.0, -1.0], (T * T, 1))
    ans = caster.cast(origins, dirs)
    hit = np.isfinite(ans["t_hit"])
    face = np.where(hit, ans["primitive_ids"].astype(np.int64), -1).reshape(T, T)
    return face, ans["primitive_uvs"].reshape(T, T, 2).astype(np.float64)


def _interp(mesh: Mesh, face: np.ndarray, bary: np.ndarray, values: np.ndarray) -> np.ndarray:
    f = mesh.faces[np.maximum(face, 0)]
    b1, b2 = bary[..., :1], bary[..., 1:]
    return (1 - b1 - b2) * values[f[..., 0]] + b1 * values[f[..., 1]] + b2 * values[f[..., 2]]


def _face_view_scores(mesh: Mesh, scene: ReconstructedScene) -> tuple[np.ndarray, np.ndarray]:
    """(N views, F faces) visibility-tested scores cos/dist^2 and face-centre colours (N, F, 3)."""
    cams = scene.cameras
    v = mesh.vertices[mesh.faces]
    centre = v.mean(1)
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    visible = visible_points(centre, cams, MeshCaster(mesh).render(cams), rel_tol=0.02)
    to_cam = cams.centers[:, None] - centre[None]
    dist = np.linalg.norm(to_cam, axis=-1)
    cos = (to_cam * n[None]).sum(-1) / np.maximum(dist, 1e-12)
    score = np.where(visible & (cos > 0.05), cos / np.maximum(dist, 1e-9) ** 2, 0.0)
    return score, sample_frames(scene.frames, cams, centre)


def _tangent_frames(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Per-face tangent and bitangent (F, 3) from the UV derivatives (unit, Gram-Schmidt-free)."""
    p = mesh.vertices[mesh.faces]
    t = mesh.uvs[mesh.faces].astype(np.float64)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    r = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    r = np.where(np.abs(r) < 1e-12, 1e-12, r)
    tan = (e1 * d2[:, 1:] - e2 * d1[:, 1:]) / r[:, None]
    bit = (e2 * d1[:, :1] - e1 * d2[:, :1]) / r[:, None]
    unit = lambda a: a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)  # noqa: E731
    return unit(tan), unit(bit)


def _fill_gutters(img: np.ndarray, covered: np.ndarray) -> np.ndarray:
    if covered.all() or not covered.any():
        return img
    _, (ii, jj) = ndimage.distance_transform_edt(~covered, return_indices=True)
    return img[ii, jj]


def bake(scene: ReconstructedScene, atlas: Mesh, high: Mesh, T: int, seam_blending: bool) -> dict[str, np.ndarray]:
    """Albedo (T, T, 3), normal (T, T, 3) and roughness (T, T) maps of ``atlas`` (see module docstring)."""
    face, bary = rasterize_uv(atlas, T)
    covered = face >= 0
    score, centre_cols = _face_view_scores(atlas, scene)
    best = score.argmax(0)
    seen = score.max(0) > 0
    pos = _interp(atlas, face, bary, atlas.vertices)[covered]
    fid = face[covered]
    cams, frames = scene.cameras, scene.frames
    albedo = np.zeros((T, T, 3), np.float32)
    fallback = atlas.colors if atlas.colors is not None else np.full((len(atlas.vertices), 3), 0.5, np.float32)
    cols = _interp(atlas, face, bary, fallback.astype(np.float64))[covered].astype(np.float32)
    texel_view = np.where(seen[fid], best[fid], -1)
    for k in np.unique(texel_view[texel_view >= 0]):
        sel = texel_view == k
        cols[sel] = sample_frames(frames[k:k + 1], cams[k:k + 1], pos[sel])[0]
    if seam_blending:
        top = np.argsort(-score, axis=0)[:3]  # (3, F)
        w = np.take_along_axis(score, top, 0)
        blend = np.zeros_like(cols)
        wsum = np.zeros(len(cols), np.float32)
        for r in range(top.shape[0]):
            views, wt = top[r][fid], w[r][fid].astype(np.float32)
            for k in np.unique(views[wt > 0]):
                sel = (views == k) & (wt > 0)
                blend[sel] += wt[sel, None] * sample_frames(frames[k:k + 1], cams[k:k + 1], pos[sel])[0]
                wsum[sel] += wt[sel]
        blend = np.where(wsum[:, None] > 0, blend / np.maximum(wsum, 1e-12)[:, None], cols)
        # seams: texels next to empty texels (chart borders) or to texels that took another view
        view_img = np.full((T, T), -2, np.int64)
        view_img[covered] = texel_view
        border = ~covered
        for axis in (0, 1):
            for shift in (1, -1):
                border |= np.roll(view_img, shift, axis) != view_img
        alpha_img = np.clip(1 - ndimage.distance_transform_edt(~border) / 3.0, 0, 1)
        alpha = alpha_img[covered][:, None].astype(np.float32)
        cols = (1 - alpha) * cols + alpha * blend
    albedo[covered] = cols
    albedo = _fill_gutters(albedo, covered)

    # normal map from the high-resolution mesh, in the atlas' tangent frames
    hn = high.normals if high.normals is not None else high.compute_normals().normals
    closest = MeshCaster(high).closest(pos)
    hf = closest["primitive_ids"].astype(np.int64)
    hb = closest["primitive_uvs"].astype(np.float64)
    n_high = _interp(high, hf[:, None], hb[:, None], hn.astype(np.float64))[:, 0]
    an = atlas.normals if atlas.normals is not None else atlas.compute_normals().normals
    n_low = _interp(atlas, face, bary, an.astype(np.float64))[covered]
    tan, bit = _tangent_frames(atlas)
    t_, b_ = tan[fid], bit[fid]
    n_low /= np.linalg.norm(n_low, axis=1, keepdims=True) + 1e-12
    t_ = t_ - (t_ * n_low).sum(1, keepdims=True) * n_low
    t_ /= np.linalg.norm(t_, axis=1, keepdims=True) + 1e-12
    b_ = np.cross(n_low, t_) * np.sign((np.cross(n_low, t_) * b_).sum(1, keepdims=True) + 1e-12)
    ts = np.stack([(n_high * t_).sum(1), (n_high * b_).sum(1), (n_high * n_low).sum(1)], 1)
    ts /= np.linalg.norm(ts, axis=1, keepdims=True) + 1e-12
    normal = np.tile(np.array([0.5, 0.5, 1.0], np.float32), (T, T, 1))
    normal[covered] = (ts * 0.5 + 0.5).astype(np.float32)
    normal = _fill_gutters(normal, covered)

    # roughness from the photometric spread of each face over its visible views
    vis = score > 0
    cnt = vis.sum(0)
    mean = (centre_cols * vis[..., None]).sum(0) / np.maximum(cnt, 1)[:, None]
    var = (((centre_cols - mean) ** 2) * vis[..., None]).sum(0).mean(-1) / np.maximum(cnt, 1)
    rough_face = np.where(cnt >= 2, np.clip(1 - 4 * np.sqrt(var), 0.2, 1.0), 1.0).astype(np.float32)
    roughness = np.ones((T, T), np.float32)
    roughness[covered] = rough_face[fid]
    roughness = _fill_gutters(roughness, covered)
    return {"albedo": albedo.clip(0, 1), "normal": normal.clip(0, 1), "roughness": roughness}


def optimize_textures(scene: ReconstructedScene, super_resolution: bool = False, seam_blending: bool = True,
                      enhance_details: bool = True, *, texture_resolution: Optional[int] = None,
                      max_faces: int = 12000) -> ReconstructedScene:
    """A new scene whose mesh has a UV atlas and whose ``textures`` hold albedo / normal / roughness.

    The atlas mesh is ``scene.mesh`` decimated to at most ``max_faces`` faces; the normal map keeps
    the detail of the full mesh. ``texture_resolution`` (power of two, default from the metadata or
    1024) is the side of the maps (doubled by ``super_resolution``).
    """
    if scene.frames is None:
        raise ValueError("optimize_textures: the scene has no frames to bake from; reconstruct it again or load a scene directory that holds them")
    T = texture_resolution or int(scene.metadata.get("parameters", {}).get("texture_resolution", 1024))
    if T < 16 or T & (T - 1):
        raise ValueError(f"texture_resolution: must be a power of two >= 16, got {T}")
    if len(scene.mesh.faces) == 0:
        raise ValueError("optimize_textures: the mesh has no faces")
    high = scene.mesh if scene.mesh.normals is not None else scene.mesh.compute_normals()
    low = high
    if len(high.faces) > max_faces:
        low = simplify_mesh(high, max_faces / len(high.faces))
        low.colors = None if high.colors is None else low.colors
    atlas = uv_atlas(low, T)
    maps = bake(scene, atlas, high, T, seam_blending)
    if super_resolution:
        maps = {k: cv2.resize(v, (2 * T, 2 * T), interpolation=cv2.INTER_LANCZOS4).clip(0, 1) for k, v in maps.items()}
    if enhance_details:
        a = maps["albedo"]
        maps["albedo"] = np.clip(a + 0.5 * (a - cv2.GaussianBlur(a, (0, 0), 1.0)), 0, 1)
    log.info("textures: %d-face atlas, %d px maps", len(atlas.faces), maps["albedo"].shape[0])
    meta = dict(scene.metadata)
    meta["textures"] = {"atlas_faces": int(len(atlas.faces)), "resolution": int(maps["albedo"].shape[0]),
                        "super_resolution": "lanczos4_2x" if super_resolution else None,
                        "seam_blending": seam_blending, "enhance_details": enhance_details}
    return replace(scene, mesh=atlas, textures=maps, metadata=meta)
