import numpy as np
import torch

from worldstereo.camera import Cameras, intrinsics_from_fov, pixel_centers, plucker_rays, ray_directions
from conftest import random_cameras


def test_convention_pixel_grid_centres():
    g = pixel_centers(2, 3)
    assert g.shape == (2, 3, 2)
    assert torch.equal(g[0, 0], torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert torch.equal(g[1, 2], torch.tensor([2.5, 1.5], dtype=torch.float64))  # (u, v) = (j + .5, i + .5)


def test_convention_plucker_layout_and_values(rng):
    """Channels are [d, o x d] with d the unit world direction through the pixel centre."""
    cams = random_cameras(rng, n=3)
    p = plucker_rays(cams, 48, 64, dtype=torch.float64)
    assert p.shape == (3, 6, 48, 64)
    d, m = p[:, :3], p[:, 3:]
    assert torch.allclose(d.norm(dim=1), torch.ones(1, dtype=torch.float64))
    # pixel (i=5, j=7) of camera 1: direction from the centre to its unprojection at depth 1
    far = cams[1].unproject(np.array([[7.5, 5.5]]), np.array([[1.0]]))[0, 0]
    o = cams.centers[1]
    want = (far - o) / np.linalg.norm(far - o)
    assert np.allclose(d[1, :, 5, 7].numpy(), want)
    assert np.allclose(m[1, :, 5, 7].numpy(), np.cross(o, want))


def test_plucker_moment_is_independent_of_point_on_ray(rng):
    cams = random_cameras(rng, n=2)
    d, o = ray_directions(cams, 8, 8)
    m1 = torch.cross(o[:, None, None].expand_as(d), d, dim=-1)
    m2 = torch.cross(o[:, None, None] + 3.7 * d, d, dim=-1)
    assert torch.allclose(m1, m2, atol=1e-12)


def test_plucker_identity_camera_has_zero_moment_and_forward_centre():
    cams = Cameras.identity(intrinsics_from_fov(60, 32, 32), 32, 32)
    p = plucker_rays(cams, 32, 32)
    assert torch.all(p[:, 3:] == 0)
    # the four central pixels straddle the optical axis symmetrically
    c = p[0, :3, 15:17, 15:17]
    assert torch.allclose(c[0].sum(), torch.tensor(0.0), atol=1e-6) and torch.allclose(c[1].sum(), torch.tensor(0.0), atol=1e-6)


def test_plucker_at_other_resolution_uses_rescaled_K(rng):
    cams = random_cameras(rng, n=2, per_frame_K=False)
    low = plucker_rays(cams, 12, 16, dtype=torch.float64)
    same = plucker_rays(cams.resized(16, 12), 12, 16, dtype=torch.float64)
    assert torch.allclose(low, same)
