"""The point splatter against exact scenes and a plain per-point reference loop."""

import math

import numpy as np
import pytest
import torch

from geometry_scenes import raycast
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.geometry import PointCloud, default_radius, depth_to_points, render_points


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def test_fronto_parallel_textured_plane_gives_exact_depth_and_colours():
    H, W = 60, 80
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    pc = depth_to_points(np.full((H, W), 2.5, np.float32), cam, rgb, edge_threshold=None)
    out = render_points(pc, cam, H, W, radius_px=0.7)
    assert out.mask.sum() == 0
    assert torch.equal(out.depth, torch.full((1, H, W), 2.5))
    np.testing.assert_allclose(out.rgb[0].numpy(), rgb, atol=1e-6)
    np.testing.assert_allclose(out.xyz[0].numpy().reshape(-1, 3), pc.xyz, atol=1e-5)
    # a wider splat blends neighbours but cannot change the depth of a fronto-parallel plane
    wide = render_points(pc, cam, H, W, radius_px=2.0)
    np.testing.assert_allclose(wide.depth.numpy(), 2.5, rtol=1e-6)


def test_render_from_source_camera_reproduces_the_input_image():
    H, W = 96, 128
    cam = Cameras.identity(intrinsics_from_fov(70, W, H), W, H)
    depth, rgb, _ = raycast(cam)
    pc = depth_to_points(depth[0], cam, rgb[0])
    out = render_points(pc, cam, H, W, radius_px=0.5)
    valid = out.mask[0].numpy() == 0
    assert valid.mean() > 0.95  # only the edge-filtered pixels are holes
    assert _psnr(out.rgb[0].numpy()[valid], rgb[0][valid]) > 40
    np.testing.assert_allclose(out.depth[0].numpy()[valid], depth[0][valid], rtol=1e-5)
    # the default footprint (2 px at 480p) blends neighbours: smoother, still close to the image
    H4, W4 = 384, 512
    cam4 = cam.resized(W4, H4)
    depth4, rgb4, _ = raycast(cam4)
    out4 = render_points(depth_to_points(depth4[0], cam4, rgb4[0]), cam4, H4, W4)
    valid4 = out4.mask[0].numpy() == 0
    assert valid4.mean() > 0.99
    assert _psnr(out4.rgb[0].numpy()[valid4], rgb4[0][valid4]) > 30


def _reference_render(xyz, rgb, cam, H, W, r, band):
    """Plain loops: every point, every pixel centre within r; front layer blended with 1 - d^2/r^2."""
    uv, z = cam.project(xyz)
    cands = {}
    for p in range(len(xyz)):
        if z[0, p] <= 0:
            continue
        u, v = uv[0, p]
        for i in range(H):
            for j in range(W):
                d2 = (j + 0.5 - u) ** 2 + (i + 0.5 - v) ** 2
                if d2 < r * r:
                    cands.setdefault((i, j), []).append((z[0, p], 1 - d2 / r**2, p))
    out_rgb, out_d, hole = np.zeros((H, W, 3)), np.zeros((H, W)), np.ones((H, W))
    for (i, j), lst in cands.items():
        zmin = min(c[0] for c in lst)
        front = [c for c in lst if c[0] <= zmin * (1 + band)]
        wsum = sum(c[1] for c in front)
        out_rgb[i, j] = sum(c[1] * rgb[c[2]] for c in front) / wsum
        out_d[i, j] = sum(c[1] * c[0] for c in front) / wsum
        hole[i, j] = 0
    return out_rgb, out_d, hole


@pytest.mark.parametrize("radius", [1.0, 1.7, 2.5])
def test_render_matches_plain_reference_loop(radius):
    rng = np.random.default_rng(int(radius * 10))
    H, W = 12, 16
    cam = Cameras(intrinsics_from_fov(60, W, H), look_at((0.2, -0.1, -0.3), (0, 0, 3)), W, H)
    xyz = np.c_[rng.uniform(-1.5, 1.5, (150, 2)), rng.choice([2.0, 2.01, 2.5, 4.0], 150)]
    xyz[:5, 2] = -1.0  # behind the camera
    rgb = rng.random((150, 3))
    pc = PointCloud(xyz.astype(np.float32), rgb.astype(np.float32))
    out = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=None)
    ref_rgb, ref_d, ref_hole = _reference_render(xyz, rgb, cam, H, W, radius, 0.02)
    np.testing.assert_array_equal(out.mask[0].numpy(), ref_hole)
    np.testing.assert_allclose(out.rgb[0].numpy(), ref_rgb, atol=1e-5)
    np.testing.assert_allclose(out.depth[0].numpy(), ref_d, rtol=1e-5)
    small = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=None, chunk_entries=64)
    np.testing.assert_allclose(small.rgb.numpy(), out.rgb.numpy(), atol=1e-6)


def test_point_cap_keeps_the_nearest_points_of_the_front_layer():
    H, W = 4, 4
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    centre = cam.unproject(np.array([[2.5, 2.5]]), np.array([[1.0]]))[0, 0]
    xyz = np.concatenate([np.tile(centre, (5, 1)), np.tile(centre * 1.015, (5, 1))]).astype(np.float32)
    rgb = np.array([[1, 0, 0]] * 5 + [[0, 0, 1]] * 5, np.float32)
    pc = PointCloud(xyz, rgb)
    capped = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=5)
    np.testing.assert_allclose(capped.rgb[0, 2, 2].numpy(), [1, 0, 0], atol=1e-6)
    both = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=None)
    np.testing.assert_allclose(both.rgb[0, 2, 2].numpy(), [0.5, 0, 0.5], atol=1e-6)
    few = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=2)
    np.testing.assert_allclose(few.rgb[0, 2, 2].numpy(), [1, 0, 0], atol=1e-6)


def test_deferred_points_cannot_hide_a_surface_just_behind_them_only_blend_into_it():
    H, W = 4, 4
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    centre = cam.unproject(np.array([[2.5, 2.5]]), np.array([[1.0]]))[0, 0]
    # firm red at depth 1; deferred blue 5% in front of it, deferred green 20% in front
    xyz = np.stack([centre, centre * 0.95, centre * 0.8]).astype(np.float32)
    rgb = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    defer = np.array([0.0, 0.1, 0.1], np.float32)
    plain = render_points(PointCloud(xyz[:2], rgb[:2]), cam, H, W, radius_px=0.5)
    np.testing.assert_allclose(plain.rgb[0, 2, 2].numpy(), [0, 0, 1], atol=1e-6)  # nearest hides red
    out = render_points(PointCloud(xyz[:2], rgb[:2]), cam, H, W, radius_px=0.5, defer=defer[:2])
    np.testing.assert_allclose(out.rgb[0, 2, 2].numpy(), [0.5, 0, 0.5], atol=1e-6)  # joins red's blend
    assert out.depth[0, 2, 2].item() == pytest.approx(0.975, rel=1e-5)
    out = render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=0.5, defer=defer)
    np.testing.assert_allclose(out.rgb[0, 2, 2].numpy(), [0, 1, 0], atol=1e-6)  # clearly in front: wins
    assert out.depth[0, 2, 2].item() == pytest.approx(0.8, rel=1e-5)  # drawn at its true depth
    alone = render_points(PointCloud(xyz[1:2], rgb[1:2]), cam, H, W, radius_px=0.5, defer=defer[1:2])
    np.testing.assert_allclose(alone.rgb[0, 2, 2].numpy(), [0, 0, 1], atol=1e-6)  # no firm surface: shows
    assert alone.depth[0, 2, 2].item() == pytest.approx(0.95, rel=1e-5)
    zero = render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=0.5, defer=np.zeros(3, np.float32))
    for a, b in zip(zero, render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=0.5)):
        assert torch.equal(a, b)


def test_occluded_points_do_not_leak_and_edges_do_not_wrap():
    H, W = 10, 10
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    near = cam.unproject(np.array([[9.8, 5.0]]), np.array([[1.0]]))[0]  # right edge, middle row
    far = cam.unproject(np.array([[9.8, 5.0]]), np.array([[3.0]]))[0]
    behind = np.array([[0.0, 0.0, -1.0]])
    pc = PointCloud(np.concatenate([near, far, behind]).astype(np.float32), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32))
    out = render_points(pc, cam, H, W, radius_px=2.0)
    assert out.mask[0, :, :6].eq(1).all()  # nothing wrapped round to the left side
    hit = out.mask[0] == 0
    assert hit[:, -1].any()
    np.testing.assert_allclose(out.rgb[0][hit].numpy(), [[1, 0, 0]] * int(hit.sum()), atol=1e-6)
    np.testing.assert_allclose(out.depth[0][hit].numpy(), 1.0, rtol=1e-5)


def test_convention_render_outputs_and_defaults():
    H, W = 8, 12
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H, n=3)
    pc = PointCloud(np.array([[0.0, 0.0, 2.0]], np.float32))
    out = render_points(pc, cam, H, W)
    rgb, depth, mask, xyz = out  # unpacks in this order
    assert rgb.shape == (3, H, W, 3) and depth.shape == (3, H, W) and mask.shape == (3, H, W) and xyz.shape == (3, H, W, 3)
    assert mask.dtype == torch.float32 and set(mask.unique().tolist()) == {0.0, 1.0}  # 1 = hole
    assert float(depth[mask == 1].abs().max()) == 0.0
    assert default_radius(480, 832) == 2.0 and math.isclose(default_radius(720, 1280), 3.0)
    assert default_radius(8, 12) == 0.75  # floor: every point reaches its nearest pixel centre
    with pytest.raises(ValueError, match="radius_px"):
        render_points(pc, cam, H, W, radius_px=0)


def test_render_resizes_cameras_to_the_requested_size():
    H, W = 30, 40
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    pc = depth_to_points(np.full((H, W), 2.0, np.float32), cam, edge_threshold=None)
    out = render_points(pc, cam, 2 * H, 2 * W, radius_px=1.5)
    assert out.mask.mean() < 0.01


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=15, deadline=None)
@given(
    yaw=st.floats(-60, 60), pitch=st.floats(-30, 30), fov=st.floats(40, 100),
    depth=st.floats(0.5, 50.0), seed=st.integers(0, 1000),
)
def test_unproject_then_render_round_trip_property(yaw, pitch, fov, depth, seed):
    """Any camera: a depth map unprojected and rendered back at the same camera returns the same depth."""
    H, W = 12, 16
    a, e = np.radians(yaw), np.radians(pitch)
    fwd = np.array([np.cos(e) * np.sin(a), -np.sin(e), np.cos(e) * np.cos(a)])
    eye = np.random.default_rng(seed).normal(size=3)
    cam = Cameras(intrinsics_from_fov(fov, W, H), look_at(eye, eye + fwd), W, H)
    d = np.full((H, W), depth, np.float32)
    pc = depth_to_points(d, cam, edge_threshold=None)
    out = render_points(pc, cam, H, W, radius_px=0.7)
    assert out.mask.sum() == 0
    np.testing.assert_allclose(out.depth[0].numpy(), d, rtol=1e-4)
    np.testing.assert_allclose(out.xyz[0].numpy().reshape(-1, 3), pc.xyz, rtol=1e-4, atol=1e-4 * depth)


def test_empty_cloud_and_torch_input():
    H, W = 6, 8
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    empty = render_points(PointCloud(np.zeros((0, 3), np.float32)), cam, H, W)
    assert empty.mask.eq(1).all() and empty.depth.eq(0).all()
    pc = depth_to_points(np.full((H, W), 2.0, np.float32), cam, edge_threshold=None).torch()
    out = render_points(pc, cam, H, W)
    assert out.depth.device == pc.xyz.device and out.mask.sum() == 0
