"""The equirectangular convention, stated once.

An equirectangular image of size H x W (W = 2H) is centred on the panorama's forward view and
uses the same OpenCV axes as a perspective camera at the panorama centre (x right, y down,
z forward). Pixel (i, j) has its centre at (j + 0.5, i + 0.5) like any image, and maps to

    longitude  lon = 2 pi (j + 0.5) / W - pi      (-pi at the left edge, 0 = forward +z, +pi/2 = right +x)
    latitude   lat = pi / 2 - pi (i + 0.5) / H    (+pi/2 at the top = up = -y)
    direction  d   = (cos lat sin lon, -sin lat, cos lat cos lon)

The left and right edges meet at lon = +-pi (straight behind), which is where samplers must wrap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def equirect_directions(height: int, width: int, device: Any = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(H, W, 3) unit directions of the pixel centres of an equirectangular image."""
    j = torch.arange(width, device=device, dtype=dtype) + 0.5
    i = torch.arange(height, device=device, dtype=dtype) + 0.5
    lon = 2 * torch.pi * j / width - torch.pi
    lat = torch.pi / 2 - torch.pi * i / height
    lat, lon = torch.meshgrid(lat, lon, indexing="ij")
    return torch.stack([torch.cos(lat) * torch.sin(lon), -torch.sin(lat), torch.cos(lat) * torch.cos(lon)], -1)


def directions_to_equirect(directions: Any, height: int, width: int) -> Any:
    """Continuous equirect pixel coordinates (u, v) of directions (..., 3); same array kind.

    Inverse of :func:`equirect_directions` (u in [0, W), v in [0, H]; no wrap applied).
    """
    lib = torch if isinstance(directions, torch.Tensor) else np
    x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
    lon = lib.arctan2(x, z)
    lat = lib.arctan2(-y, lib.sqrt(x * x + z * z))
    u = (lon + np.pi) / (2 * np.pi) * width
    v = (np.pi / 2 - lat) / np.pi * height
    return lib.stack([u, v], -1)
