"""Volumetric frustum overlap: exact cases, symmetry, and agreement with a brute-force voxel count."""

import numpy as np
import pytest

from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.geometry import angle_penalty, frustum_box_iou, frustum_overlap, frustum_volume, view_angles

W, H = 64, 48
K = intrinsics_from_fov(60, W, H)
NEAR, FAR = 0.1, 3.0


def _cams(*poses):
    return Cameras(K, np.stack([look_at(np.array(e, float), np.array(t, float)) for e, t in poses]), W, H)


def _inside(cam, X):
    uv, z = cam.project(X)
    u, v, z = uv[0, :, 0], uv[0, :, 1], z[0]
    return (z >= NEAR) & (z <= FAR) & (u >= 0) & (u <= W) & (v >= 0) & (v <= H)


def _brute_force_iou(a, b, n=140):
    """IoU by counting the centres of an n^3 voxel grid over both frustums' bounding box."""
    from worldstereo.geometry import frustum_corners

    corners = np.concatenate([frustum_corners(a, NEAR, FAR), frustum_corners(b, NEAR, FAR)], 1)[0]
    lo, hi = corners.min(0), corners.max(0)
    axes = [lo[i] + (np.arange(n) + 0.5) * (hi[i] - lo[i]) / n for i in range(3)]
    X = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    ia, ib = _inside(a, X), _inside(b, X)
    return (ia & ib).sum() / (ia | ib).sum()


PAIRS = [
    (((0, 0, 0), (0, 0, 3)), ((0.5, 0, 0), (0.5, 0, 3))),
    (((0, 0, 0), (0, 0, 3)), ((0.3, 0.2, 0.1), (2, 0, 3))),
    (((0, 0, 0), (0, 0, 3)), ((0, 0, 1.0), (0, 0, 4))),
    (((0, 0, 0), (0, 0, 3)), ((1.5, 0, 1.5), (0, 0, 1.5))),
    (((0, 0, 0), (0, 0, 3)), ((-0.4, -0.3, 0.2), (0.5, 0.4, 2.5))),
]


@pytest.mark.parametrize("pair", PAIRS)
def test_frustum_overlap_matches_brute_force_voxel_count(pair):
    a, b = _cams(pair[0]), _cams(pair[1])
    ours = frustum_overlap(a, b, NEAR, FAR)[0, 0]
    ref = _brute_force_iou(a, b)
    assert ref > 0.02
    assert abs(ours - ref) < 0.02 * max(ref, 0.5)


def test_frustum_overlap_identical_disjoint_symmetric_and_batched():
    cams = _cams(*[p for pair in PAIRS for p in pair], ((10, 0, 0), (10, 0, 3)))
    s = frustum_overlap(cams, cams, NEAR, FAR)
    assert s.shape == (len(cams), len(cams))
    np.testing.assert_array_equal(np.diag(s), 1.0)
    np.testing.assert_allclose(s, s.T, atol=1e-12)
    assert np.all(s[-1, :-1] == 0)  # 10 units away: disjoint
    assert np.all((s >= 0) & (s <= 1))
    sub = frustum_overlap(cams[[1, 3]], cams[[0, 2, 4]], NEAR, FAR)
    np.testing.assert_allclose(sub, s[np.ix_([1, 3], [0, 2, 4])], atol=1e-12)


def test_frustum_overlap_decreases_as_a_camera_turns_away():
    angles = np.radians([0, 10, 20, 40, 60])
    cams = _cams(*[((0, 0, 0), (3 * np.sin(a), 0, 3 * np.cos(a))) for a in angles])
    s = frustum_overlap(cams[:1], cams, NEAR, FAR)[0]
    assert np.all(np.diff(s) < 0)


def test_box_iou_and_angle_penalty():
    cams = _cams(((0, 0, 0), (0, 0, 3)), ((0, 0, 0), (0, 0, -3)), ((0, 0, 0), (3, 0, 0)), ((50, 0, 0), (50, 0, 3)))
    box = frustum_box_iou(cams, cams, NEAR, FAR)
    np.testing.assert_allclose(np.diag(box), 1.0)
    np.testing.assert_allclose(box, box.T)
    assert box[0, 3] == 0
    ang = view_angles(cams, cams)
    np.testing.assert_allclose(ang[0, 1:3], [180, 90], atol=1e-6)
    np.testing.assert_allclose(angle_penalty(np.array([0, 90, 180])), [1, 1, np.exp(-2.5)])
    np.testing.assert_allclose(frustum_volume(cams[:1], NEAR, FAR), [_volume_by_formula()], rtol=1e-12)


def _volume_by_formula():
    # square-ish pyramid frustum: area at depth z is (W z / fx)(H z / fy)
    fx, fy = K[0, 0], K[1, 1]
    return (W / fx) * (H / fy) * (FAR**3 - NEAR**3) / 3


def test_frustum_overlap_rejects_bad_ranges():
    cams = _cams(PAIRS[0][0])
    with pytest.raises(ValueError, match="near"):
        frustum_overlap(cams, cams, 1.0, 0.5)
