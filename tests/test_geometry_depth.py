"""depth_to_points (Eq. 1 with edge filter and far contraction) and the PointCloud container."""

import numpy as np
import pytest
import torch

from geometry_scenes import raycast
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.geometry import PointCloud, contract_far_depth, depth_to_points, edge_confidence


def _cam(W=40, H=30, pose=None):
    return Cameras(intrinsics_from_fov(70, W, H), np.eye(4) if pose is None else pose, W, H)


def test_depth_to_points_lands_on_the_raycast_surface():
    cam = _cam(pose=look_at((0.3, -0.2, -0.5), (0, 0, 4)))
    depth, rgb, hits = raycast(cam)
    pc = depth_to_points(depth, cam, rgb, edge_threshold=None)
    np.testing.assert_allclose(pc.xyz, hits[0].reshape(-1, 3), atol=1e-4)
    np.testing.assert_allclose(pc.rgb, rgb[0].reshape(-1, 3))
    uv, z = cam.project(pc.xyz.astype(np.float64))
    np.testing.assert_allclose(z[0], depth[0].reshape(-1), rtol=1e-5)


def test_invalid_and_edge_pixels_are_dropped():
    depth = np.full((30, 40), 2.0, np.float32)
    depth[:, 20:] = 6.0  # a depth step down the middle
    depth[0, 0] = 0.0
    depth[1, 1] = np.nan
    cam = _cam()
    pc = depth_to_points(depth, cam)
    cols = np.floor(cam.project(pc.xyz.astype(np.float64))[0][0, :, 0]).astype(int)
    assert not np.isin(cols, [19, 20]).any()  # the step's two sides are gone
    assert len(pc) == 30 * 40 - 2 * 30 - 1 - 1 - 7  # minus the step, the two invalid pixels and their edge neighbours
    assert np.all(pc.confidence >= 0.35) and np.all(pc.view_ids == 0)
    conf = edge_confidence(depth)
    assert conf[15, 5] == 1.0 and conf[15, 19] < 0.35


def test_far_depth_is_contracted_continuously():
    d = np.array([[1.0] * 4 + [8.0, 16.0, 1e6, 0.0]], np.float32)
    out = contract_far_depth(d, 8.0)
    m = 8.0  # 8 x median (median of valid = 1)
    np.testing.assert_allclose(out, [[1, 1, 1, 1, 8, 2 * m - m * m / 16, 2 * m - m * m / 1e6, 0]], rtol=1e-6)
    assert np.all(out <= 2 * m)


def test_batched_depth_keeps_view_ids_and_validates_shapes():
    cams = Cameras.identity(intrinsics_from_fov(60, 8, 6), 8, 6, n=2)
    pc = depth_to_points(np.ones((2, 6, 8), np.float32), cams, edge_threshold=None)
    assert np.array_equal(np.bincount(pc.view_ids), [48, 48])
    with pytest.raises(ValueError, match="resize the cameras"):
        depth_to_points(np.ones((2, 5, 8), np.float32), cams)


def test_pointcloud_voxel_downsample_keeps_most_confident_and_converts():
    xyz = np.array([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [1.5, 0, 0]], np.float32)
    pc = PointCloud(xyz, rgb=np.eye(3, dtype=np.float32), confidence=np.array([0.2, 0.9, 0.1], np.float32))
    down = pc.voxel_downsample(0.1)
    np.testing.assert_allclose(down.xyz, xyz[1:])
    t = pc.torch()
    assert isinstance(t.xyz, torch.Tensor) and t.xyz.dtype == torch.float32
    assert len(PointCloud.concat([pc, pc])) == 6
    moved = pc.transformed(np.diag([2.0, 2.0, 2.0, 1.0]))
    np.testing.assert_allclose(moved.xyz, 2 * xyz)
    with pytest.raises(ValueError, match="rgb"):
        PointCloud(xyz, rgb=np.zeros((2, 3)))
