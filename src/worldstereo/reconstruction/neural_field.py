"""The neural surface's field and where it is sampled.

``SDFField``: an Instant-NGP style multiresolution encoding (dense grids, since every level fits in
memory at the scene sizes reconstructed here) + one small hidden layer giving an SDF and a Lambertian
colour. ``Band``: the occupancy grid of the space within the truncation distance of the depth points;
samples, the eikonal points and the marching-cubes evaluation all stay inside it, since the surface
is only observed (and only meshed) there.

Costs on a CPU are per sample and dominated by the trilinear lookups, so the field has no
per-sample work that does not shape the surface: no view-dependent colour branch (the frames of a
generated video are close to Lambertian and the mesh colours come from the frames anyway) and
SiLU instead of ``Softplus(beta=100)`` (10x slower per element on CPU for the same smoothness).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SDFField(nn.Module):
    """SDF (world units) and colour of points in the box ``[lo, hi]``.

    Level ``l`` is a dense grid of ``base * 2^l`` cells along the box's longest side (fewer along the
    shorter sides, the same cell size), ``feat`` channels; the trilinear features of all levels and
    the normalised position go through one hidden layer of ``width`` to (SDF, RGB).

    Storage: every level's (z, y) slices are stacked as rows of one 2D atlas ``(1, feat, rows, nx)``, and
    a trilinear lookup is two bilinear lookups (slices z0 and z0 + 1) blended along z, all levels in
    one ``grid_sample`` call: PyTorch's 2D sampler is vectorised on CPU where the 3D one is scalar,
    which makes this about 1.6x faster than one 3D ``grid_sample`` per level, with the same result.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, levels: int = 4, base: int = 16, feat: int = 2, width: int = 32):
        super().__init__()
        self.register_buffer("lo", torch.as_tensor(lo, dtype=torch.float32))
        self.register_buffer("hi", torch.as_tensor(hi, dtype=torch.float32))
        ext = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)
        # grid points per axis (x, y, z) of each level, at least 2 cells so a lerp always has 2 slices
        shapes = np.stack([np.maximum(np.ceil(ext / ext.max() * base * 2**l).astype(int), 2) + 1 for l in range(levels)])
        rows = shapes[:, 2] * shapes[:, 1]
        self.register_buffer("shapes", torch.as_tensor(shapes, dtype=torch.float32))  # (L, 3) points per axis
        self.register_buffer("row0", torch.as_tensor(np.concatenate([[0], np.cumsum(rows)[:-1]]), dtype=torch.float32))
        self.atlas_size = (int(rows.sum()), int(shapes[:, 0].max()))
        self.atlas = nn.Parameter(1e-4 * torch.randn(1, feat, *self.atlas_size))
        self.net = nn.Sequential(nn.Linear(levels * feat + 3, width), nn.SiLU(), nn.Linear(width, 4))
        self.scale = float(ext.max())
        # start as an SDF positive everywhere (all free space): the depth targets carve the surface in
        with torch.no_grad():
            self.net[-1].bias.zero_()
            self.net[-1].bias[0] = 1.0
        self.log_s = nn.Parameter(torch.tensor(3.0))

    def cells(self) -> int:
        return int(self.shapes.prod(1).sum())

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.lo) / (self.hi - self.lo) * 2 - 1

    def encode(self, u: torch.Tensor) -> torch.Tensor:
        """Trilinear features (P, L * feat) at normalised positions u (P, 3) in [-1, 1] (clamped: border)."""
        P, L = len(u), len(self.shapes)
        n = self.shapes  # (L, 3)
        pix = torch.minimum(((u[None] + 1) * 0.5 * (n[:, None] - 1)).clamp_min(0), n[:, None] - 1)  # (L, P, 3)
        z0 = torch.minimum(pix[..., 2].floor(), n[:, 2:3] - 2)
        fz = pix[..., 2] - z0
        row = self.row0[:, None] + z0 * n[:, 1:2] + pix[..., 1]  # (L, P) row in slice z0
        rows = torch.stack([row, row + n[:, 1:2]], 1)  # (L, 2, P): slices z0 and z0 + 1
        H, W = self.atlas_size
        gx = (pix[..., 0] * (2.0 / (W - 1)) - 1)[:, None].expand(L, 2, P)
        gy = rows * (2.0 / (H - 1)) - 1
        grid = torch.stack([gx, gy], -1).reshape(1, 2 * L, P, 2)
        s = F.grid_sample(self.atlas, grid, align_corners=True).reshape(-1, L, 2, P)  # (C, L, 2, P)
        f = torch.lerp(s[:, :, 0], s[:, :, 1], fz)  # (C, L, P)
        return f.permute(2, 1, 0).reshape(P, -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (P, 3) world -> sdf (P,), rgb (P, 3) in [0, 1]."""
        u = self.normalise(x)
        h = self.net(torch.cat([self.encode(u), u], -1))
        return h[:, 0] * self.scale * 0.1, torch.sigmoid(h[:, 1:])

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0]

    def gradient(self, x: torch.Tensor, h: float) -> torch.Tensor:
        """Central-difference SDF gradient (P, 3) with step ``h`` (world units); first-order autograd only
        (Neuralangelo's numerical gradients), which ``grid_sample`` supports on every device."""
        return fd_gradient(self.sdf(fd_points(x, h)), h)


class Band:
    """Occupancy grid (cell ``cell``) of the points within ``radius`` of ``points`` (P, 3), in ``[lo, hi]``."""

    def __init__(self, points: np.ndarray, lo: np.ndarray, hi: np.ndarray, radius: float, cell: float, device):
        from scipy.ndimage import binary_dilation

        self.lo = np.asarray(lo, np.float64)
        self.cell = float(cell)
        self.shape = np.maximum(np.ceil((np.asarray(hi) - self.lo) / cell).astype(int), 1)
        occ = np.zeros(self.shape, bool)
        ijk = np.clip(((points - self.lo) / cell).astype(int), 0, self.shape - 1)
        occ[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        r = int(np.ceil(radius / cell))
        a = np.arange(-r, r + 1)
        ball = (a[:, None, None] ** 2 + a[None, :, None] ** 2 + a[None, None, :] ** 2) <= (radius / cell + 0.5) ** 2
        self.occ_np = binary_dilation(occ, ball)
        self.occ = torch.as_tensor(self.occ_np.ravel(), device=device)
        self._lo = torch.as_tensor(self.lo, dtype=torch.float32, device=device)
        self._shape_f = torch.as_tensor(self.shape, dtype=torch.float32, device=device)
        self._zero = torch.zeros(3, device=device)
        self._cells = torch.nonzero(self.occ, as_tuple=False)[:, 0]

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        """(...,) bool: x (..., 3) lies in an occupied cell (outside the box: no)."""
        f = (x - self._lo) / self.cell
        inside = ((f >= 0) & (f < self._shape_f)).all(-1)
        ijk = torch.clamp(f, min=self._zero, max=self._shape_f - 1).to(torch.int32)
        flat = (ijk[..., 0] * int(self.shape[1]) + ijk[..., 1]) * int(self.shape[2]) + ijk[..., 2]
        return inside & self.occ[flat]

    def contains_np(self, x: np.ndarray) -> np.ndarray:
        ijk = np.floor((x - self.lo) / self.cell).astype(np.int64)
        inside = ((ijk >= 0) & (ijk < self.shape)).all(-1)
        ijk = np.minimum(np.maximum(ijk, 0), self.shape - 1)
        return inside & self.occ_np[ijk[..., 0], ijk[..., 1], ijk[..., 2]]

    def first_hit(self, o: torch.Tensor, d: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, steps: int = 64):
        """Ray parameter (R,) where rays o + t d first enter the band between t0 and t1 (R,), and
        whether they do at all (R,) bool: a jittered march of ``steps`` lookups per ray."""
        u = (torch.arange(steps, device=o.device) + torch.rand(len(o), steps, device=o.device)) / steps
        t = t0[:, None] + (t1 - t0)[:, None] * u
        occ = self.contains(o[:, None] + d[:, None] * t[..., None])
        first = occ.float().argmax(1)
        return t.gather(1, first[:, None])[:, 0], occ.any(1)

    def uniform(self, n: int, device) -> torch.Tensor:
        """n points uniform in random occupied cells (eikonal samples spread over the band)."""
        pick = self._cells[torch.randint(0, len(self._cells), (n,), device=device)]
        ny, nz = int(self.shape[1]), int(self.shape[2])
        ijk = torch.stack([pick // (ny * nz), (pick // nz) % ny, pick % nz], 1).float()
        return self._lo + (ijk + torch.rand(n, 3, device=device)) * self.cell


def box_interval(o: torch.Tensor, d: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit ray parameters (R,) of rays o + t d (R, 3) through the box [lo, hi] (slab method);
    entry > exit where a ray misses it."""
    inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    a, b = (lo - o) * inv, (hi - o) * inv
    return torch.minimum(a, b).amax(-1), torch.maximum(a, b).amin(-1)


def fd_points(x: torch.Tensor, h: float) -> torch.Tensor:
    """The 6 central-difference neighbours (E*6, 3) of x (E, 3) at step ``h``; see ``fd_gradient``."""
    offs = torch.eye(3, device=x.device, dtype=x.dtype) * h
    return torch.cat([x[:, None] + offs, x[:, None] - offs], 1).reshape(-1, 3)


def fd_gradient(sdf: torch.Tensor, h: float) -> torch.Tensor:
    """SDF gradient (E, 3) from the SDF (E*6,) at ``fd_points``."""
    s = sdf.reshape(-1, 2, 3)
    return (s[:, 0] - s[:, 1]) / (2 * h)


def neus_render(sdf: torch.Tensor, rgb: torch.Tensor, t: torch.Tensor, inv_s: torch.Tensor):
    """NeuS discrete volume rendering of rays with SDF (R, S) and colour (R, S, 3) at sorted samples
    t (R, S), sharpness ``inv_s``: colour (R, 3), depth (R,), weights (R, S-1)."""
    cdf = torch.sigmoid(sdf * inv_s)
    alpha = ((cdf[:, :-1] - cdf[:, 1:]) / (cdf[:, :-1] + 1e-5)).clamp(0, 1)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-7], 1), 1)[:, :-1]
    w = alpha * trans
    colour = (w[..., None] * 0.5 * (rgb[:, :-1] + rgb[:, 1:])).sum(1)
    depth = (w * 0.5 * (t[:, :-1] + t[:, 1:])).sum(1)
    return colour, depth, w
