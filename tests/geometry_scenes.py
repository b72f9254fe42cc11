"""An analytic test scene ray-cast in numpy: exact depth and colours for any camera.

A room corner, a textured back wall (z = 6), a left wall (x = -2.6), a floor (y = 1.2), and a box
in front; three plane orientations pin down every direction of an alignment. Colour is a smooth function of
the world point so every view sees the same texture.
"""

import numpy as np

from worldstereo.camera import Cameras, ray_directions

BOX = (np.array([-1.2, -0.6, 3.0]), np.array([0.1, 0.8, 3.9]))


def texture(p: np.ndarray) -> np.ndarray:
    r = 0.5 + 0.4 * np.sin(2.1 * p[..., 0] + 0.3 * p[..., 2])
    g = 0.5 + 0.4 * np.sin(1.7 * p[..., 1] - 0.5 * p[..., 0])
    b = 0.5 + 0.4 * np.cos(1.3 * p[..., 2] + 0.9 * p[..., 1])
    return np.stack([r, g, b], -1).astype(np.float32)


def _plane(o, d, axis, value):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - o[..., axis]) / d[..., axis]
    return np.where(t > 1e-9, t, np.inf)


def _box(o, d, lo, hi):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - o) / d, (hi - o) / d
    tmin = np.nanmax(np.minimum(t1, t2), -1)
    tmax = np.nanmin(np.maximum(t1, t2), -1)
    return np.where((tmax >= tmin) & (tmin > 1e-9), tmin, np.inf)


def raycast(cams: Cameras, with_box: bool = True):
    """Exact z-depth (N, H, W), colour (N, H, W, 3) and hit points (N, H, W, 3); depth 0 where nothing is hit."""
    d, o = ray_directions(cams, cams.height, cams.width)
    d = d.numpy()
    o = o.numpy()[:, None, None, :] + 0 * d
    t = np.minimum.reduce([_plane(o, d, 2, 6.0), _plane(o, d, 1, 1.2), _plane(o, d, 0, -2.6)])
    if with_box:
        t = np.minimum(t, _box(o, d, *BOX))
    hit = np.isfinite(t)
    p = o + np.where(hit, t, 0)[..., None] * d
    z = np.einsum("nhwi,ni->nhw", p - o, cams.R[:, 2, :])
    depth = np.where(hit, z, 0).astype(np.float32)
    return depth, np.where(hit[..., None], texture(p), 0).astype(np.float32), p


def surface_distance(p: np.ndarray) -> np.ndarray:
    """(P,) distance of points (P, 3) to the nearest surface of the scene."""
    lo, hi = BOX
    outside = np.linalg.norm(np.maximum(lo - p, 0) + np.maximum(p - hi, 0), axis=1)
    inside = np.all((p > lo) & (p < hi), 1)
    box = np.where(inside, 0.0, outside)
    return np.minimum.reduce([np.abs(p[:, 2] - 6.0), np.abs(p[:, 1] - 1.2), np.abs(p[:, 0] + 2.6), box])
