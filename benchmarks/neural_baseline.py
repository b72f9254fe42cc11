"""BASELINE for benchmarks/bench_neural.py: main's neural.py before issue 19 (commit f8e63b0), verbatim but
for absolute imports. Not used by the package.

Neural implicit surface: a multi-resolution feature grid + small MLP giving an SDF (and a colour
head), optimised per scene by NeuS-style volume rendering of the frames (colour loss) with depth
supervision (truncated SDF targets along rays from the MVS / Cache3D depth, SDF = 0 on the depth
points) and an eikonal term; meshed by marching cubes of the SDF.

Gradients of the SDF are central finite differences (Neuralangelo's "numerical gradients"): they
need only first-order autograd, which ``grid_sample`` supports on every device.

CPU defaults (``ReconstructionConfig``): 400 iterations x 512 rays x 24 samples, 4 grid levels from
16^3 (about 1 to 2 minutes at 128 x 96 x 40 views on one shared core, mostly the optimisation). For quality on CUDA use e.g.
``neural_iterations=10000, neural_batch_size=8192, neural_grid_levels=6, neural_mesh_resolution=512``.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from worldstereo.camera import Cameras
from worldstereo.reconstruction.config import ReconstructionConfig
from worldstereo.reconstruction.fusion import depth_points
from worldstereo.reconstruction.result import Mesh

log = logging.getLogger(__name__)


class SDFField(nn.Module):
    """SDF (world units) and colour of points in the box ``[lo, hi]``.

    Features: ``levels`` dense grids of ``base * 2^l`` cells per side (``feat`` channels each),
    sampled trilinearly and concatenated with the normalised position, then an MLP to
    (SDF, 15 geometry features); colour from the features and the view direction.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, levels: int = 4, base: int = 16, feat: int = 2, width: int = 64):
        super().__init__()
        self.register_buffer("lo", torch.as_tensor(lo, dtype=torch.float32))
        self.register_buffer("hi", torch.as_tensor(hi, dtype=torch.float32))
        self.grids = nn.ParameterList(
            [nn.Parameter(1e-4 * torch.randn(1, feat, base * 2**l + 1, base * 2**l + 1, base * 2**l + 1)) for l in range(levels)]
        )
        self.sdf_net = nn.Sequential(nn.Linear(levels * feat + 3, width), nn.Softplus(beta=100), nn.Linear(width, width),
                                     nn.Softplus(beta=100), nn.Linear(width, 16))
        self.rgb_net = nn.Sequential(nn.Linear(15 + 3, width), nn.ReLU(), nn.Linear(width, 3))
        self.scale = float((self.hi - self.lo).max())
        # start as an SDF of the box itself seen from inside: positive everywhere near the cameras
        with torch.no_grad():
            self.sdf_net[-1].bias.zero_()
            self.sdf_net[-1].bias[0] = 0.1 * self.scale
        self.log_s = nn.Parameter(torch.tensor(3.0))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.lo) / (self.hi - self.lo) * 2 - 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (P, 3) world -> sdf (P,), geometry features (P, 15)."""
        u = self.normalise(x)
        g = u[None, :, None, None, :]  # (1, P, 1, 1, 3), grid_sample wants (x, y, z) = (W, H, D) order
        feats = [F.grid_sample(grid, g, align_corners=True, padding_mode="border")[0, :, :, 0, 0].T for grid in self.grids]
        h = self.sdf_net(torch.cat([*feats, u], -1))
        return h[:, 0] * self.scale * 0.1, h[:, 1:]

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0]

    def gradient(self, x: torch.Tensor, h: float) -> torch.Tensor:
        """Central-difference SDF gradient (P, 3) with step ``h`` (world units)."""
        offs = torch.eye(3, device=x.device, dtype=x.dtype) * h
        pts = torch.cat([x[:, None] + offs, x[:, None] - offs], 1).reshape(-1, 3)
        s = self.sdf(pts).reshape(-1, 2, 3)
        return (s[:, 0] - s[:, 1]) / (2 * h)

    def color(self, geo: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.rgb_net(torch.cat([geo, dirs], -1)))


def _rays(cams: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """Origins (N*H*W, 3) and directions with unit camera z (so ray parameter = z-depth)."""
    H, W = cams.height, cams.width
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    far = cams.unproject(pix, np.ones((len(cams), len(pix))))
    o = np.broadcast_to(cams.centers[:, None], far.shape)
    return o.reshape(-1, 3), (far - o).reshape(-1, 3)


def _render(field: SDFField, o, d, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """NeuS discrete volume rendering of rays (R, 3) at sorted samples t (R, S):
    colour (R, 3), depth (R,), weights (R, S), sdf at the samples (R, S)."""
    R, S = t.shape
    x = o[:, None] + d[:, None] * t[..., None]
    sdf, geo = field(x.reshape(-1, 3))
    sdf = sdf.reshape(R, S)
    dirs = F.normalize(d, dim=-1)[:, None].expand(R, S, 3).reshape(-1, 3)
    rgb = field.color(geo, dirs).reshape(R, S, 3)
    s = field.log_s.exp() * 10
    cdf = torch.sigmoid(sdf * s)
    alpha = ((cdf[:, :-1] - cdf[:, 1:]) / (cdf[:, :-1] + 1e-5)).clamp(0, 1)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-7], 1), 1)[:, :-1]
    w = alpha * trans
    mid_rgb = 0.5 * (rgb[:, :-1] + rgb[:, 1:])
    mid_t = 0.5 * (t[:, :-1] + t[:, 1:])
    return (w[..., None] * mid_rgb).sum(1), (w * mid_t).sum(1), w, sdf


def fit_neural_surface(
    frames: np.ndarray, cams: Cameras, depth: np.ndarray, voxel: float, cfg: ReconstructionConfig,
    progress: Optional[Callable[[int, int], None]] = None, seed: int = 0,
) -> Mesh:
    """Optimise the SDF field on frames (N, H, W, 3) + depth prior (N, H, W) and mesh it."""
    from scipy.spatial import cKDTree
    from skimage.measure import marching_cubes

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
    opt = torch.optim.Adam(field.parameters(), lr=cfg.neural_learning_rate)

    o_all, d_all = _rays(cams)
    rgb_all = frames.reshape(-1, 3)
    dep_all = depth.reshape(-1)
    box_far = float(np.linalg.norm(hi - lo))
    O = torch.as_tensor(o_all, dtype=torch.float32)
    D = torch.as_tensor(d_all, dtype=torch.float32)
    RGB = torch.as_tensor(rgb_all, dtype=torch.float32)
    DEP = torch.as_tensor(dep_all, dtype=torch.float32)
    P = torch.as_tensor(pts, dtype=torch.float32)
    S = cfg.neural_samples_per_ray
    B = cfg.neural_batch_size
    t_start = time.perf_counter()
    for it in range(cfg.neural_iterations):
        idx = torch.randint(0, len(O), (B,), generator=gen)
        o, d, rgb, dep = O[idx].to(device), D[idx].to(device), RGB[idx].to(device), DEP[idx].to(device)
        has = dep > 0
        near = torch.full_like(dep, 0.05 * box_far)
        far = torch.where(has, dep + 3 * trunc, torch.full_like(dep, box_far))
        u = (torch.arange(S // 2, device=device) + torch.rand(B, S // 2, device=device)) / (S // 2)
        t_strat = near[:, None] + (far - near)[:, None] * u
        # half the samples straddle the depth prior, where the surface is expected
        t_near = dep[:, None] + trunc * (2 * torch.rand(B, S - S // 2, device=device) - 1) * 2
        t = torch.where(has[:, None], torch.cat([t_strat, t_near], 1), torch.cat([t_strat, t_strat + 1e-3], 1))
        t = t.clamp_min(1e-3).sort(1).values
        col, rdep, w, sdf = _render(field, o, d, t)
        loss = (col - rgb).abs().mean()
        if has.any():
            # truncated SDF targets along the ray (projective distance; exact enough inside the band)
            tgt = dep[:, None] - t
            band = has[:, None] & (tgt.abs() < trunc)
            free = has[:, None] & (tgt >= trunc)
            l_sdf = (sdf - tgt)[band].abs().mean() if band.any() else sdf.sum() * 0
            l_free = F.relu(trunc - sdf)[free].mean() if free.any() else sdf.sum() * 0
            l_dep = ((rdep[has] - dep[has]).abs() / dep[has]).mean()
            surf = P[torch.randint(0, len(P), (B,), generator=gen)].to(device)
            l_surf = field.sdf(surf).abs().mean()
            loss = loss + cfg.neural_depth_weight * ((l_sdf + l_free + l_surf) / trunc * 0.1 + l_dep)
        eik_x = torch.cat([surf, lo_hi_uniform(field, B // 2, device)]) if has.any() else lo_hi_uniform(field, B, device)
        grad = field.gradient(eik_x, 0.5 * voxel)
        loss = loss + cfg.neural_eikonal_weight * ((grad.norm(dim=-1) - 1) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress and (it % 20 == 0 or it == cfg.neural_iterations - 1):
            progress(it + 1, cfg.neural_iterations)
        if it % 100 == 0:
            log.debug("neural it %d loss %.4f", it, loss.item())

    # marching cubes on the observed band only (the SDF is unconstrained far from any depth point)
    t_fit = time.perf_counter() - t_start
    ext = hi - lo
    n = np.maximum(np.round(ext / ext.max() * cfg.neural_mesh_resolution).astype(int), 8)
    axes = [np.linspace(lo[k], hi[k], n[k]) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    vals = np.empty(len(grid), np.float32)
    with torch.no_grad():
        for a in range(0, len(grid), 65536):
            vals[a:a + 65536] = field.sdf(torch.as_tensor(grid[a:a + 65536], dtype=torch.float32, device=device)).cpu().numpy()
    step = ext / (n - 1)
    near_obs = cKDTree(pts[:: max(1, len(pts) // 200000)]).query(grid, distance_upper_bound=trunc)[0] < trunc
    vol = vals.reshape(*n)
    mask = near_obs.reshape(*n)
    if not (vol[mask] < 0).any() or not (vol[mask] > 0).any():
        raise ValueError("neural method: the SDF has no zero crossing near the observations; raise neural_iterations")
    verts, faces, _, _ = marching_cubes(vol, level=0.0, spacing=tuple(step), mask=mask)
    verts = verts + lo
    with torch.no_grad():
        g = field.gradient(torch.as_tensor(verts, dtype=torch.float32, device=device), 0.5 * voxel).cpu().numpy()
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if (fn * g[faces].mean(1)).sum(1).mean() < 0:  # face normals must point to free space (SDF > 0)
        faces = faces[:, ::-1]
    normals = g / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-12)
    log.info("neural surface: %d vertices, %d faces (fit %.1f s, mesh %.1f s)", len(verts), len(faces), t_fit,
             time.perf_counter() - t_start - t_fit)
    return Mesh(verts, faces.copy(), normals)


def lo_hi_uniform(field: SDFField, n: int, device) -> torch.Tensor:
    """n points uniform in the field's box (eikonal samples away from the surface)."""
    return field.lo + (field.hi - field.lo) * torch.rand(n, 3, device=device)
