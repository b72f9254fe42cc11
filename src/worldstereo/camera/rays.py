"""Per-pixel rays: the pixel grid and Plücker embeddings used to condition the camera branch."""

from __future__ import annotations

from typing import Any

import torch

from .cameras import Cameras


def pixel_centers(height: int, width: int, device: Any = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(H, W, 2) continuous (u, v) of every pixel centre: pixel (i, j) -> (j + 0.5, i + 0.5)."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype) + 0.5,
        torch.arange(width, device=device, dtype=dtype) + 0.5,
        indexing="ij",
    )
    return torch.stack([u, v], -1)


def ray_directions(cameras: Cameras, height: int, width: int, device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit world ray directions (N, H, W, 3) and camera centres (N, 3), float64.

    ``height x width`` may differ from the cameras' image size: K is rescaled first so the
    rays pass through the centres of the pixels of the requested grid.
    """
    cams = cameras if (cameras.height, cameras.width) == (height, width) else cameras.resized(width, height)
    pix = pixel_centers(height, width, device=device).reshape(1, -1, 2).expand(len(cams), -1, -1)
    depth = torch.ones(pix.shape[:2], dtype=torch.float64, device=device)
    far = cams.unproject(pix, depth)
    centers = torch.tensor(cams.centers, dtype=torch.float64, device=device)
    d = far - centers[:, None, :]
    d = d / d.norm(dim=-1, keepdim=True)
    return d.reshape(len(cams), height, width, 3), centers


def plucker_rays(
    cameras: Cameras, height: int, width: int, device: Any = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Plücker ray embedding per pixel, (N, 6, H, W): channels ``[d, o x d]``.

    ``d`` is the unit world direction of the ray through the pixel centre (j + 0.5, i + 0.5)
    and ``o`` the camera centre in world coordinates, so ``o x d`` is the ray's moment
    (independent of which point on the ray is taken as ``o``).
    """
    d, o = ray_directions(cameras, height, width, device=device)
    m = torch.cross(o[:, None, None, :].expand_as(d), d, dim=-1)
    return torch.cat([d, m], -1).permute(0, 3, 1, 2).to(dtype).contiguous()
