"""Panorama <-> views against py360convert, seam handling and the 27-view bank convention."""

import numpy as np
import pytest
from scipy import ndimage

from worldstereo.camera import Cameras, look_at
from worldstereo.geometry import equirect_depth_to_points, equirect_to_views, panorama_views, views_to_equirect


def _pano(he=128, we=256, seed=0):
    rng = np.random.default_rng(seed)
    p = ndimage.gaussian_filter(rng.random((he, we, 3)), (2, 2, 0), mode="wrap")
    return ((p - p.min()) / (p.max() - p.min())).astype(np.float32)


def _view(az, el, fov, H, W, aligned_corners=False):
    """A camera looking at azimuth ``az`` (towards +x) and elevation ``el`` (up), degrees."""
    if aligned_corners:  # py360convert puts the edge pixel *centres* on the field-of-view border
        fx, fy = (W - 1) / 2 / np.tan(np.radians(fov[0] / 2)), (H - 1) / 2 / np.tan(np.radians(fov[1] / 2))
    else:
        fx, fy = W / 2 / np.tan(np.radians(fov[0] / 2)), H / 2 / np.tan(np.radians(fov[1] / 2))
    a, e = np.radians(az), np.radians(el)
    fwd = np.array([np.cos(e) * np.sin(a), -np.sin(e), np.cos(e) * np.cos(a)])
    return Cameras(np.array([[fx, 0, W / 2], [0, fy, H / 2], [0, 0, 1]]), look_at(np.zeros(3), fwd), W, H)


@pytest.mark.parametrize("az,el", [(0, 0), (40, 20), (-100, -30), (180, 0), (175, 15)])
def test_equirect_to_views_matches_py360convert(az, el):
    import py360convert

    pano = _pano()
    H, W, fov = 48, 64, (90, 70)
    ref = py360convert.e2p(pano, fov, az, el, (H, W))
    ours = equirect_to_views(pano, _view(az, el, fov, H, W, aligned_corners=True))[0]
    assert np.abs(ours - ref).mean() < 1 / 255


def test_equirect_sampling_wraps_across_the_seam():
    pano = np.zeros((64, 128), np.float32)
    pano[:, 0] = 1.0  # a stripe on the left edge, just right of straight-behind
    pano[:, -1] = 1.0  # and on the right edge, just left of it
    view = _view(180, 0, (30, 30), 32, 32)
    out = equirect_to_views(pano, view)[0]
    centre_cols = out[:, 14:18]
    assert centre_cols.max() > 0.9  # the seam is seen in the middle of the view, continuous
    assert out[:, :4].max() == 0 and out[:, -4:].max() == 0


def test_convention_panorama_views_27_bank():
    cams = panorama_views()
    assert len(cams) == 27 and (cams.width, cams.height) == (832, 480)
    np.testing.assert_allclose(cams.fov_x, 120, atol=1e-9)
    np.testing.assert_allclose(cams.fov_y, 90, atol=1e-9)
    np.testing.assert_allclose(cams.centers, 0, atol=1e-12)
    axes = cams.R[:, 2, :]  # optical axes in world coordinates
    np.testing.assert_allclose(axes[0], [0, 0, 1], atol=1e-12)  # view 0 looks forward
    np.testing.assert_allclose(axes[2], [np.sin(np.radians(80)), 0, np.cos(np.radians(80))], atol=1e-12)
    elev = np.degrees(np.arcsin(-axes[:, 1]))  # positive = up (-y)
    np.testing.assert_allclose(elev[:9], 0, atol=1e-9)
    np.testing.assert_allclose(elev[9:18], 26.565, atol=1e-3)
    np.testing.assert_allclose(elev[18:], -26.565, atol=1e-3)


def test_views_round_trip_through_equirect():
    pano = _pano(96, 192)
    cams = panorama_views(width=104, height=60)
    back, covered = views_to_equirect(equirect_to_views(pano, cams), cams, 96, 192)
    lat = 90 - 180 * (np.arange(96) + 0.5) / 96
    assert covered[np.abs(lat) < 60].all() and not covered[np.abs(lat) > 80].any()
    assert np.abs(back - pano)[covered].mean() < 0.01


def test_equirect_depth_to_points_lies_on_the_sphere():
    d = np.full((32, 64), 3.0, np.float32)
    pc = equirect_depth_to_points(d, edge_threshold=None)
    np.testing.assert_allclose(np.linalg.norm(pc.xyz, axis=1), 3.0, rtol=1e-5)
    # pixel just right of the panorama centre looks forward (+z), slightly right (+x) and up (-y)
    p = pc.xyz.reshape(32, 64, 3)[15, 32]
    assert p[2] > 2.9 and p[0] > 0 and p[1] < 0
