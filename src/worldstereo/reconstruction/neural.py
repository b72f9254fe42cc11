"""Neural implicit surface: the SDF field of ``neural_field.py`` optimised per scene by NeuS-style
volume rendering of the frames (L1 colour) with depth supervision (truncated SDF targets along rays
from the MVS / Cache3D depth, free space in front of it, rendered depth) and an eikonal term; meshed
by marching cubes of the SDF evaluated only inside the observed band.

Where the samples go (the fit's cost is per sample): a ray with a depth prior ``d`` gets 3/4 of its
samples stratified in ``d +- 1.5 trunc`` and 1/4 in the free space between the scene box and the band;
a ray without one marches the band's occupancy grid and samples the first ``3 trunc`` after it enters
the band; a ray that never enters the band sees nothing the mesh can hold and is dropped from the step.
Rays are drawn at random, then sorted by pixel so neighbouring samples read neighbouring grid cells.

With the defaults of ``ReconstructionConfig`` (8 samples per ray) one step of 8192 rays takes about
40 ms on one CPU core; see ``benchmarks/bench_neural.py`` and docs/reconstruction.md for measured rates.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..camera import Cameras
from .config import ReconstructionConfig
from .fusion import depth_points
from .neural_field import Band, SDFField, box_interval, fd_gradient, fd_points, neus_render
from .result import Mesh

log = logging.getLogger(__name__)


def _rays(cams: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """Origins (N*H*W, 3) and directions with unit camera z (so ray parameter = z-depth)."""
    H, W = cams.height, cams.width
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    far = cams.unproject(pix, np.ones((len(cams), len(pix))))
    o = np.broadcast_to(cams.centers[:, None], far.shape)
    return o.reshape(-1, 3), (far - o).reshape(-1, 3)


def _optimizer(field: SDFField, lr: float, device: torch.device) -> torch.optim.Adam:
    # the fused kernel is several times faster on CPU for the grids' millions of parameters
    try:
        return torch.optim.Adam(field.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(field.parameters(), lr=lr)


def _ray_samples(dep, o, d, near, far, band: Band, trunc: float, S: int):
    """Sorted sample depths (R, S) per ray (see the module docstring) and which rays are kept (R,)."""
    R, device = len(dep), dep.device
    has = dep > 0
    n_free = max(1, S // 4)
    n_band = S - n_free
    jitter = torch.rand(R, S, device=device)
    u_band = (torch.arange(n_band, device=device) + jitter[:, :n_band]) / n_band
    u_free = (torch.arange(n_free, device=device) + jitter[:, n_band:]) / n_free
    lo_band = dep - 1.5 * trunc
    t_band = lo_band[:, None] + 3 * trunc * u_band
    free_end = torch.maximum(lo_band, near + 1e-3)
    t_free = near[:, None] + (free_end - near)[:, None] * u_free
    t_prior = torch.cat([t_free, t_band], 1)  # rays without a prior are overwritten below
    keep = has.clone()
    none = torch.nonzero(~has)[:, 0]
    if len(none):
        t_hit, hit = band.first_hit(o[none], d[none], near[none], far[none])
        u = (torch.arange(S, device=device) + jitter[none]) / S
        t_prior[none] = t_hit[:, None] + 3 * trunc * u
        keep[none] = hit
    return t_prior.clamp_min(1e-3).sort(1).values, keep


class _Plateau:
    """Reduce-on-plateau over windows of ``window`` steps (see ``neural_convergence_tol``): ``factor``
    scales the learning rate; ``update`` is true once the fit has plateaued ``stops`` times."""

    def __init__(self, tol: float, window: int = 100, cut: float = 0.3, stops: int = 3):
        self.tol, self.window, self.cut, self.stops = tol, window, cut, stops
        self.factor, self.best, self.count, self.sum, self.plateaus = 1.0, float("inf"), 0, 0.0, 0

    def update(self, loss: float) -> bool:
        if self.tol <= 0:
            return False
        self.sum += loss
        self.count += 1
        if self.count < self.window:
            return False
        mean, self.sum, self.count = self.sum / self.window, 0.0, 0
        if mean < self.best * (1 - self.tol):
            self.best = mean
            return False
        self.best = min(self.best, mean)
        self.plateaus += 1
        self.factor *= self.cut
        return self.plateaus >= self.stops


def fit_neural_surface(
    frames: np.ndarray, cams: Cameras, depth: np.ndarray, voxel: float, cfg: ReconstructionConfig,
    progress: Optional[Callable[[int, int], None]] = None, seed: int = 0,
) -> Mesh:
    """Optimise the SDF field on frames (N, H, W, 3) + depth prior (N, H, W) and mesh it."""
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    pts, _ = depth_points(depth, cams)
    if len(pts) < 100:
        raise ValueError("neural method: fewer than 100 depth points to supervise the surface; the MVS depth failed")
    lo, hi = np.percentile(pts, [0.5, 99.5], axis=0)
    pad = 0.05 * (hi - lo) + 4 * voxel
    lo, hi = lo - pad, hi + pad
    trunc = 4.0 * voxel
    field = SDFField(lo, hi, cfg.neural_grid_levels, cfg.neural_grid_base).to(device)
    band = Band(pts, lo, hi, trunc, max(voxel, float((hi - lo).max()) / 256), device)
    opt = _optimizer(field, cfg.neural_learning_rate, device)

    o_all, d_all = _rays(cams)
    O = torch.as_tensor(o_all, dtype=torch.float32)
    D = torch.as_tensor(d_all, dtype=torch.float32)
    RGB = torch.as_tensor(frames.reshape(-1, 3), dtype=torch.float32)
    DEP = torch.as_tensor(depth.reshape(-1), dtype=torch.float32)
    box_far = float(np.linalg.norm(hi - lo))
    S, B, iters = cfg.neural_samples_per_ray, cfg.neural_batch_size, cfg.neural_iterations
    n_eik = max(B // 8, 64)
    n_surf = max(B // 2, 64)
    P = torch.as_tensor(pts, dtype=torch.float32)
    t_start = time.perf_counter()
    plateau = _Plateau(cfg.neural_convergence_tol)
    it = -1
    for it in range(iters):
        for group in opt.param_groups:  # cut on plateaus only (a decay over ``iters`` starved short fits)
            group["lr"] = cfg.neural_learning_rate * plateau.factor
        idx = torch.randint(0, len(O), (B,), generator=gen).sort().values
        o, d, rgb, dep = O[idx].to(device), D[idx].to(device), RGB[idx].to(device), DEP[idx].to(device)
        t0, t1 = box_interval(o, d, field.lo, field.hi)
        near = t0.clamp_min(0.05 * box_far)
        t, keep = _ray_samples(dep, o, d, near, torch.maximum(t1, near), band, trunc, S)
        o, d, rgb, dep, t = o[keep], d[keep], rgb[keep], dep[keep], t[keep]
        # one field evaluation per step for the ray samples and the eikonal points (half at this
        # step's samples, near the surface; half anywhere in the band)
        R = len(t)
        x = (o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3)
        pick = torch.randint(0, len(x), (n_eik // 2,), generator=gen).to(device)
        eik_x = torch.cat([x[pick], band.uniform(n_eik - n_eik // 2, device)])
        # SDF = 0 on depth points (main's surface term: it pins the zero level set between rays' samples)
        surf = P[torch.randint(0, len(P), (n_surf,), generator=gen)].to(device)
        sdf_all, rgb_all = field(torch.cat([x, surf, fd_points(eik_x, 0.5 * voxel)]))
        sdf, rgb_s = sdf_all[:R * S].reshape(R, S), rgb_all[:R * S].reshape(R, S, 3)
        l_surf = sdf_all[R * S:R * S + n_surf].abs().mean()
        col, rdep, _ = neus_render(sdf, rgb_s, t, field.log_s.exp() * 10)
        loss = (col - rgb).abs().mean()
        has = dep > 0
        if has.any():
            # truncated SDF targets along the ray (projective distance; exact enough inside the band)
            tgt = dep[:, None] - t
            band_s = has[:, None] & (tgt.abs() < trunc)
            free = has[:, None] & (tgt >= trunc)
            l_sdf = (sdf - tgt)[band_s].abs().mean() if band_s.any() else sdf.sum() * 0
            l_free = F.relu(trunc - sdf)[free].mean() if free.any() else sdf.sum() * 0
            l_dep = ((rdep[has] - dep[has]).abs() / dep[has]).mean()
            loss = loss + cfg.neural_depth_weight * ((l_sdf + l_free) / trunc * 0.1 + l_dep)
        loss = loss + cfg.neural_depth_weight * l_surf / trunc * 0.1
        grad = fd_gradient(sdf_all[R * S + n_surf:], 0.5 * voxel)
        loss = loss + cfg.neural_eikonal_weight * ((grad.norm(dim=-1) - 1) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if plateau.update(loss.item()):
            log.info("neural surface: converged after %d of %d iterations", it + 1, iters)
            if progress:
                progress(iters, iters)
            break
        if progress and (it % 20 == 0 or it == iters - 1):
            progress(it + 1, iters)
        if it % 500 == 0:
            log.debug("neural it %d loss %.4f", it, loss.item())
    iters = it + 1
    t_fit = time.perf_counter() - t_start
    mesh = mesh_sdf(field, band, lo, hi, cfg.neural_mesh_resolution, voxel, device)
    log.info("neural surface: %d vertices, %d faces (fit %.1f s = %.1f it/s, mesh %.1f s)", len(mesh.vertices),
             len(mesh.faces), t_fit, iters / max(t_fit, 1e-9), time.perf_counter() - t_start - t_fit)
    return mesh


def _crosses(vol: np.ndarray, mask: np.ndarray) -> bool:
    """Whether some grid edge with both ends in ``mask`` changes sign (marching cubes finds a surface)."""
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax], b[ax] = slice(None, -1), slice(1, None)
        both = mask[tuple(a)] & mask[tuple(b)]
        if (both & (np.sign(vol[tuple(a)]) != np.sign(vol[tuple(b)]))).any():
            return True
    return False


def mesh_sdf(field: SDFField, band: Band, lo: np.ndarray, hi: np.ndarray, resolution: int, voxel: float,
             device) -> Mesh:
    """Marching cubes of the SDF on a grid of ``resolution`` cells along the box's longest side,
    evaluated only at the grid points inside the band; only cubes wholly in the band are meshed (a
    crossing reaching outside it, where the SDF is unobserved, e.g. behind a wall, would be a
    spurious back surface)."""
    from scipy.ndimage import binary_erosion
    from skimage.measure import marching_cubes

    ext = hi - lo
    n = np.maximum(np.round(ext / ext.max() * resolution).astype(int), 8)
    axes = [np.linspace(lo[k], hi[k], n[k]) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    inside = band.contains_np(grid)
    pts_in = grid[inside]
    vals = np.empty(len(pts_in), np.float32)
    with torch.no_grad():
        for a in range(0, len(pts_in), 65536):
            x = torch.as_tensor(pts_in[a:a + 65536], dtype=torch.float32, device=device)
            vals[a:a + 65536] = field.sdf(x).cpu().numpy()
    if not (vals < 0).any() or not (vals > 0).any():
        raise ValueError("neural method: the SDF has no zero crossing near the observations; raise neural_iterations")
    vol = np.full(len(grid), float(np.abs(vals).max()), np.float32)  # never read: no meshed cube reaches it
    vol[inside] = vals
    step = ext / (n - 1)
    # marching cubes' mask picks a cube by one of its corners (which one is the library's business):
    # a point whose 26 neighbours are in the band has every cube it is a corner of in the band
    vol = vol.reshape(*n)
    cubes = binary_erosion(inside.reshape(*n), np.ones((3, 3, 3), bool))
    if not _crosses(vol, cubes):
        # a band under two grid cells thick (a scene box much larger than the band, e.g. a panorama's
        # far points) erodes to nothing: mesh the band itself, accepting crossings at its border
        log.info("neural surface: band thinner than the %s-cell meshing grid; meshing the whole band", "x".join(map(str, n)))
        cubes = inside.reshape(*n)
        if not _crosses(vol, cubes):
            raise ValueError("neural method: the SDF has no zero crossing inside the observed band; raise "
                             "neural_iterations or neural_mesh_resolution")
    verts, faces, _, _ = marching_cubes(vol, level=0.0, spacing=tuple(step), mask=cubes)
    verts = verts + lo
    with torch.no_grad():
        g = field.gradient(torch.as_tensor(verts, dtype=torch.float32, device=device), 0.5 * voxel).cpu().numpy()
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if (fn * g[faces].mean(1)).sum(1).mean() < 0:  # face normals must point to free space (SDF > 0)
        faces = faces[:, ::-1]
    normals = g / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-12)
    return Mesh(verts, faces.copy(), normals)
