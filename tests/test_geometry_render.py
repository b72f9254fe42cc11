"""The point splatter against exact scenes and a plain per-point reference loop."""

import math

import numpy as np
import pytest
import torch

from geometry_scenes import raycast
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.geometry import PointCloud, default_radius, depth_to_points, render_points
from worldstereo.geometry import render as render_mod

try:
    import numba  # noqa: F401

    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False

# every CPU test runs on both renderers: the compiled kernel (the CPU default) and the torch path
BACKENDS = [pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")), "torch"]


def _psnr(a, b):
    return 10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-20))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fronto_parallel_textured_plane_gives_exact_depth_and_colours(backend):
    H, W = 60, 80
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    pc = depth_to_points(np.full((H, W), 2.5, np.float32), cam, rgb, edge_threshold=None)
    out = render_points(pc, cam, H, W, radius_px=0.7, backend=backend)
    assert out.mask.sum() == 0
    assert torch.equal(out.depth, torch.full((1, H, W), 2.5))
    np.testing.assert_allclose(out.rgb[0].numpy(), rgb, atol=1e-6)
    np.testing.assert_allclose(out.xyz[0].numpy().reshape(-1, 3), pc.xyz, atol=1e-5)
    # a wider splat blends neighbours but cannot change the depth of a fronto-parallel plane
    wide = render_points(pc, cam, H, W, radius_px=2.0, backend=backend)
    np.testing.assert_allclose(wide.depth.numpy(), 2.5, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_from_source_camera_reproduces_the_input_image(backend):
    H, W = 96, 128
    cam = Cameras.identity(intrinsics_from_fov(70, W, H), W, H)
    depth, rgb, _ = raycast(cam)
    pc = depth_to_points(depth[0], cam, rgb[0])
    out = render_points(pc, cam, H, W, radius_px=0.5, backend=backend)
    valid = out.mask[0].numpy() == 0
    assert valid.mean() > 0.95  # only the edge-filtered pixels are holes
    assert _psnr(out.rgb[0].numpy()[valid], rgb[0][valid]) > 40
    np.testing.assert_allclose(out.depth[0].numpy()[valid], depth[0][valid], rtol=1e-5)
    # the default footprint (2 px at 480p) blends neighbours: smoother, still close to the image
    H4, W4 = 384, 512
    cam4 = cam.resized(W4, H4)
    depth4, rgb4, _ = raycast(cam4)
    out4 = render_points(depth_to_points(depth4[0], cam4, rgb4[0]), cam4, H4, W4, backend=backend)
    valid4 = out4.mask[0].numpy() == 0
    assert valid4.mean() > 0.99
    assert _psnr(out4.rgb[0].numpy()[valid4], rgb4[0][valid4]) > 30


def _reference_render(xyz, rgb, cam, H, W, r, band, cap=None, near=0.0):
    """Plain loops: every point, every pixel centre within r; front layer blended with 1 - d^2/r^2.

    With ``cap``: the front layer's depth bins (32 over the band) count fully until the cap is
    reached; the bin that reaches it shares the remaining slots among its points (render._cap_shares)."""
    uv, z = cam.project(np.asarray(xyz, np.float64))
    cands = {}
    for p in range(len(xyz)):
        if not z[0, p] > near:
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
        if cap is not None:
            nb = 32
            bins = [min(max(int((c[0] / zmin - 1) / max(band, 1e-12) * nb), 0), nb - 1) for c in front]
            hist = np.bincount(bins, minlength=nb)
            before = np.cumsum(hist) - hist
            share = np.clip((cap - before) / np.maximum(hist, 1), 0, 1)
            front = [(c[0], c[1] * share[b], c[2]) for c, b in zip(front, bins)]
        wsum = sum(c[1] for c in front)
        if wsum <= 1e-8:
            continue
        out_rgb[i, j] = sum(c[1] * rgb[c[2]] for c in front) / wsum
        out_d[i, j] = sum(c[1] * c[0] for c in front) / wsum
        hole[i, j] = 0
    return out_rgb, out_d, hole


def _check_against_reference(out, ref, f=0):
    ref_rgb, ref_d, ref_hole = ref
    np.testing.assert_array_equal(out.mask[f].numpy(), ref_hole)
    np.testing.assert_allclose(out.rgb[f].numpy(), ref_rgb, atol=1e-5)
    np.testing.assert_allclose(out.depth[f].numpy(), ref_d, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("radius", [1.0, 1.7, 2.5])
def test_render_matches_plain_reference_loop(radius, backend):
    rng = np.random.default_rng(int(radius * 10))
    H, W = 12, 16
    cam = Cameras(intrinsics_from_fov(60, W, H), look_at((0.2, -0.1, -0.3), (0, 0, 3)), W, H)
    xyz = np.c_[rng.uniform(-1.5, 1.5, (150, 2)), rng.choice([2.0, 2.01, 2.5, 4.0], 150)]
    xyz[:5, 2] = -1.0  # behind the camera
    rgb = rng.random((150, 3))
    pc = PointCloud(xyz.astype(np.float32), rgb.astype(np.float32))
    out = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=None, backend=backend)
    _check_against_reference(out, _reference_render(xyz, rgb, cam, H, W, radius, 0.02))
    small = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=None, chunk_entries=64, backend=backend)
    np.testing.assert_allclose(small.rgb.numpy(), out.rgb.numpy(), atol=1e-6)


def _random_scene(seed, H, W, n=300):
    """Points in front of, beside and behind a tilted camera, on a few surfaces and scattered."""
    rng = np.random.default_rng(seed)
    cam = Cameras(intrinsics_from_fov(65, W, H), look_at(rng.normal(0, 0.2, 3), (0.1, 0.05, 3)), W, H)
    xyz = np.c_[rng.uniform(-2.5, 2.5, (n, 2)), rng.uniform(1.0, 5.0, n)]
    xyz[: n // 3, 2] = rng.choice([2.0, 2.02, 3.0], n // 3)  # surfaces: ties and front layers
    xyz[n // 3 : n // 3 + 10, 2] = rng.uniform(-2.0, 0.0, 10)  # behind the camera
    rgb = rng.random((n, 3))
    return cam, xyz.astype(np.float32), rgb.astype(np.float32)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("radius", [0.5, 0.75, 2.0, 3.3])
@pytest.mark.parametrize("cap", [None, 1, 3])
@pytest.mark.parametrize("size", [(9, 14), (13, 7)])
def test_compiled_and_torch_paths_match_the_reference_loop(radius, cap, size):
    """Random clouds (off-screen and behind points included), several radii, with and without the
    point cap, non-square images: numba == torch == plain loops."""
    H, W = size
    cam, xyz, rgb = _random_scene(int(radius * 10) + 7 * (cap or 0) + H, H, W)
    pc = PointCloud(xyz, rgb)
    fast = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=cap, backend="numba")
    slow = render_points(pc, cam, H, W, radius_px=radius, max_points_per_pixel=cap, backend="torch")
    ref = _reference_render(xyz, rgb, cam, H, W, radius, 0.02, cap=cap, near=1e-6)
    assert (1 - ref[2]).sum() > 10  # the scene covers pixels
    for out in (fast, slow):
        _check_against_reference(out, ref)
    np.testing.assert_allclose(fast.xyz.numpy(), slow.xyz.numpy(), atol=1e-5)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("radius", [0.75, 2.0, 3.3])
def test_compiled_path_matches_torch_on_many_frames_and_points(radius):
    """Several frames of a cloud larger than the kernel's culling blocks (4096 points), about half
    of it outside each view, a few non-finite points: same holes, values within float rounding."""
    H, W = 40, 56
    rng = np.random.default_rng(3)
    base = Cameras(intrinsics_from_fov(70, W, H), look_at((0, 0, 0), (0, 0, 1)), W, H)
    depth = rng.uniform(2.0, 6.0, (H, W)).astype(np.float32)
    grid = depth_to_points(np.kron(depth, np.ones((3, 3), np.float32)), base.resized(3 * W, 3 * H),
                           rng.random((3 * H, 3 * W, 3)).astype(np.float32), edge_threshold=None)
    xyz = np.array(grid.xyz)
    xyz[[5, 7000, 9000], [0, 1, 2]] = [np.nan, np.inf, -np.inf]
    pc = PointCloud(xyz, grid.rgb)
    cams = Cameras(base.K[[0] * 5], np.stack([look_at((x, 0.1 * x, -0.3), (x + 2.0, 0.2, 3.0)) for x in np.linspace(-2, 2, 5)]), W, H)
    for cap in (None, 4):
        fast = render_points(pc, cams, H, W, radius_px=radius, max_points_per_pixel=cap, backend="numba")
        slow = render_points(pc, cams, H, W, radius_px=radius, max_points_per_pixel=cap, backend="torch")
        assert 0.2 < float(fast.mask.mean()) < 0.8  # partly covered views: culling has work to do
        assert torch.equal(fast.mask, slow.mask)
        both = fast.mask == 0
        # a point exactly on a splat's rim (integer radius, grid-aligned points) is in or out by one
        # rounding step, which depends on whether the CPU fuses multiply-adds (the numba kernel is
        # compiled for the host); its weight there is near zero, so colours differ by < 1e-3
        np.testing.assert_allclose(fast.rgb[both].numpy(), slow.rgb[both].numpy(), atol=1e-3)
        assert float((fast.rgb[both] - slow.rgb[both]).abs().gt(1e-4).float().mean()) < 1e-3
        np.testing.assert_allclose(fast.depth[both].numpy(), slow.depth[both].numpy(), rtol=1e-5)
        np.testing.assert_allclose(fast.xyz.numpy(), slow.xyz.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_compiled_path_skips_only_blocks_that_draw_nothing():
    """The kernel skips blocks of points whose bounding box cannot pass the per-point test; small
    boxes straddling each frustum plane (within a pixel, or by the near/far plane) check that the
    skip is conservative: a skipped box has no point that the per-point test keeps."""
    from worldstereo.geometry import render_cpu_project

    rng = np.random.default_rng(0)
    H, W, r, near, far = 30, 40, 2.0, 0.5, 9.0
    cam = Cameras(intrinsics_from_fov(70, W, H), look_at((0.3, -0.2, 0.1), (1.0, 0.4, 4.0)), W, H)
    K, T = (a[0].numpy() for a in cam.to_torch())
    R, t = np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3])
    f32 = np.float32
    buf = [np.empty(4096, f32) for _ in range(3)] + [np.empty(4096, np.uint8)]
    skipped = 0
    for trial in range(300):
        kind = trial % 6
        u, v, z = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(1.0, 8.0)
        if kind == 0:
            u = -r + rng.normal(0, 0.5)
        elif kind == 1:
            u = W + r + rng.normal(0, 0.5)
        elif kind == 2:
            v = -r + rng.normal(0, 0.5)
        elif kind == 3:
            v = H + r + rng.normal(0, 0.5)
        elif kind == 4:
            z = near + rng.normal(0, 0.01)
        else:
            z = far + rng.normal(0, 0.05)
        centre = cam.unproject(np.array([[[u, v]]]), np.array([[z]]))[0, 0]
        pts = (centre + rng.uniform(-1, 1, (4096, 3)) * rng.uniform(0.0005, 0.02, 3)).astype(f32)
        box = np.r_[pts.min(0), pts.max(0)].astype(np.float64)
        px, py, pz = (np.ascontiguousarray(pts[:, i]) for i in range(3))
        render_cpu_project._project_block(px, py, pz, R, t, K, f32(near), f32(far), f32(-r), f32(W + r), f32(H + r), *buf)
        if not render_cpu_project._block_visible(box, R, t, K, near, far, r, W, H):
            skipped += 1
            assert not buf[3].any(), f"trial {trial}: a skipped block had a drawable point"
    assert skipped > 60


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_images_and_points_on_borders(backend):
    """1x1 and 2x3 images; points exactly on the image border, at pixel corners and centres, at
    exactly r from pixel centres (not drawn there: d < r is strict), and just outside the image.
    Focal length 2 and dyadic coordinates keep every projection and distance exact in float32."""
    for H, W in ((1, 1), (2, 3)):
        K = np.array([[2.0, 0.0, W / 2], [0.0, 2.0, H / 2], [0.0, 0.0, 1.0]])
        cam = Cameras(K, np.eye(4), W, H)
        uv = np.array([[0.0, 0.0], [W, H], [W, 0.0], [0.5, 0.5], [W - 0.5, H - 0.5], [1.0, 1.0],
                       [-0.75, 0.5], [W + 0.75, H - 0.5], [W / 2, -0.25], [0.5, H + 0.5], [-2.0, -2.0]])
        z = np.array([1.0, 2.0, 4.0, 1.0, 2.0, 4.0, 1.0, 2.0, 4.0, 1.0, 2.0])
        xyz = np.c_[(uv - [W / 2, H / 2]) * z[:, None] / 2.0, z].astype(np.float32)
        rgb = np.random.default_rng(H).random((len(uv), 3)).astype(np.float32)
        for r in (0.5, 0.75, 1.0, 2.0):
            out = render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=r, backend=backend)
            _check_against_reference(out, _reference_render(xyz, rgb, cam, H, W, r, 0.02, near=1e-6))


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_and_far_limits(backend):
    H, W = 6, 8
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    xyz = cam.unproject(np.array([[[4.0, 3.0]] * 3]), np.array([[0.5, 2.0, 8.0]]))[0].astype(np.float32)
    rgb = np.eye(3, dtype=np.float32)
    out = render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=1.0, near=1.0, far=5.0, backend=backend)
    np.testing.assert_allclose(out.rgb[0, 2:4, 3:5].numpy().reshape(-1, 3), [[0, 1, 0]] * 4, atol=1e-6)
    np.testing.assert_allclose(out.depth[0][out.mask[0] == 0].numpy(), 2.0, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_point_cap_keeps_the_nearest_points_of_the_front_layer(backend):
    H, W = 4, 4
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    centre = cam.unproject(np.array([[2.5, 2.5]]), np.array([[1.0]]))[0, 0]
    xyz = np.concatenate([np.tile(centre, (5, 1)), np.tile(centre * 1.015, (5, 1))]).astype(np.float32)
    rgb = np.array([[1, 0, 0]] * 5 + [[0, 0, 1]] * 5, np.float32)
    pc = PointCloud(xyz, rgb)
    capped = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=5, backend=backend)
    np.testing.assert_allclose(capped.rgb[0, 2, 2].numpy(), [1, 0, 0], atol=1e-6)
    both = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=None, backend=backend)
    np.testing.assert_allclose(both.rgb[0, 2, 2].numpy(), [0.5, 0, 0.5], atol=1e-6)
    few = render_points(pc, cam, H, W, radius_px=0.5, max_points_per_pixel=2, backend=backend)
    np.testing.assert_allclose(few.rgb[0, 2, 2].numpy(), [1, 0, 0], atol=1e-6)


def test_deferred_points_cannot_hide_a_surface_just_behind_them_only_blend_into_it():
    H, W = 4, 4
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    centre = cam.unproject(np.array([[2.5, 2.5]]), np.array([[1.0]]))[0, 0]
    # firm red at depth 1; deferred blue 5% in front of it, deferred green 20% in front
    xyz = np.stack([centre, centre * 0.95, centre * 0.8]).astype(np.float32)
    rgb = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    defer = np.array([0.0, 0.1, 0.1], np.float32)
    plain = render_points(PointCloud(xyz[:2], rgb[:2]), cam, H, W, radius_px=0.5, backend="torch")
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
    for a, b in zip(zero, render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=0.5, backend="torch")):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="defer .* torch path only"):
        render_points(PointCloud(xyz, rgb), cam, H, W, radius_px=0.5, defer=defer, backend="numba")


@pytest.mark.parametrize("backend", BACKENDS)
def test_occluded_points_do_not_leak_and_edges_do_not_wrap(backend):
    H, W = 10, 10
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    near = cam.unproject(np.array([[9.8, 5.0]]), np.array([[1.0]]))[0]  # right edge, middle row
    far = cam.unproject(np.array([[9.8, 5.0]]), np.array([[3.0]]))[0]
    behind = np.array([[0.0, 0.0, -1.0]])
    pc = PointCloud(np.concatenate([near, far, behind]).astype(np.float32), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32))
    out = render_points(pc, cam, H, W, radius_px=2.0, backend=backend)
    assert out.mask[0, :, :6].eq(1).all()  # nothing wrapped round to the left side
    hit = out.mask[0] == 0
    assert hit[:, -1].any()
    np.testing.assert_allclose(out.rgb[0][hit].numpy(), [[1, 0, 0]] * int(hit.sum()), atol=1e-6)
    np.testing.assert_allclose(out.depth[0][hit].numpy(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_convention_render_outputs_and_defaults(backend):
    H, W = 8, 12
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H, n=3)
    pc = PointCloud(np.array([[0.0, 0.0, 2.0]], np.float32))
    out = render_points(pc, cam, H, W, backend=backend)
    rgb, depth, mask, xyz = out  # unpacks in this order
    assert rgb.shape == (3, H, W, 3) and depth.shape == (3, H, W) and mask.shape == (3, H, W) and xyz.shape == (3, H, W, 3)
    assert mask.dtype == torch.float32 and set(mask.unique().tolist()) == {0.0, 1.0}  # 1 = hole
    assert float(depth[mask == 1].abs().max()) == 0.0
    assert default_radius(480, 832) == 2.0 and math.isclose(default_radius(720, 1280), 3.0)
    assert default_radius(8, 12) == 0.75  # floor: every point reaches its nearest pixel centre
    with pytest.raises(ValueError, match="radius_px"):
        render_points(pc, cam, H, W, radius_px=0, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_render_resizes_cameras_to_the_requested_size(backend):
    H, W = 30, 40
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    pc = depth_to_points(np.full((H, W), 2.0, np.float32), cam, edge_threshold=None)
    out = render_points(pc, cam, 2 * H, 2 * W, radius_px=1.5, backend=backend)
    assert out.mask.mean() < 0.01


from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15, deadline=None)
@given(
    yaw=st.floats(-60, 60), pitch=st.floats(-30, 30), fov=st.floats(40, 100),
    depth=st.floats(0.5, 50.0), seed=st.integers(0, 1000),
)
def test_unproject_then_render_round_trip_property(backend, yaw, pitch, fov, depth, seed):
    """Any camera: a depth map unprojected and rendered back at the same camera returns the same depth."""
    H, W = 12, 16
    a, e = np.radians(yaw), np.radians(pitch)
    fwd = np.array([np.cos(e) * np.sin(a), -np.sin(e), np.cos(e) * np.cos(a)])
    eye = np.random.default_rng(seed).normal(size=3)
    cam = Cameras(intrinsics_from_fov(fov, W, H), look_at(eye, eye + fwd), W, H)
    d = np.full((H, W), depth, np.float32)
    pc = depth_to_points(d, cam, edge_threshold=None)
    out = render_points(pc, cam, H, W, radius_px=0.7, backend=backend)
    assert out.mask.sum() == 0
    np.testing.assert_allclose(out.depth[0].numpy(), d, rtol=1e-4)
    np.testing.assert_allclose(out.xyz[0].numpy().reshape(-1, 3), pc.xyz, rtol=1e-4, atol=1e-4 * depth)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_cloud_and_torch_input(backend):
    H, W = 6, 8
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    empty = render_points(PointCloud(np.zeros((0, 3), np.float32)), cam, H, W, backend=backend)
    assert empty.mask.eq(1).all() and empty.depth.eq(0).all()
    pc = depth_to_points(np.full((H, W), 2.0, np.float32), cam, edge_threshold=None).torch()
    out = render_points(pc, cam, H, W, backend=backend)
    assert out.depth.device == pc.xyz.device and out.mask.sum() == 0
    # float64 numpy and float64 torch inputs without colours render like float32 ones
    ref = render_points(depth_to_points(np.full((H, W), 2.0, np.float32), cam, edge_threshold=None), cam, H, W, backend=backend)
    for xyz in (pc.xyz.double(), pc.xyz.double().numpy()):
        out64 = render_points(PointCloud(xyz), cam, H, W, backend=backend)
        assert torch.equal(out64.mask, ref.mask) and torch.allclose(out64.depth, ref.depth)
        assert out64.rgb.eq(0).all()


def test_cpu_default_backend_switch_and_fallback_without_numba(monkeypatch, caplog):
    """CPU renders use the compiled kernel unless told otherwise; without numba they fall back to
    torch (one debug line), and asking for numba explicitly then fails loudly."""
    H, W = 6, 8
    cam = Cameras.identity(intrinsics_from_fov(60, W, H), W, H)
    pc = depth_to_points(np.full((H, W), 2.0, np.float32), cam, np.random.default_rng(0).random((H, W, 3)), edge_threshold=None)
    calls = []
    if HAVE_NUMBA:
        kernel = render_mod._numba_render_frames()
        monkeypatch.setattr(render_mod, "_numba_kernel", lambda *a: calls.append(1) or kernel(*a))
        render_points(pc, cam, H, W)
        assert calls == [1]
    monkeypatch.setattr(render_mod, "CPU_BACKEND", "torch")
    torch_out = render_points(pc, cam, H, W)
    assert len(calls) <= 1
    monkeypatch.setattr(render_mod, "CPU_BACKEND", "numba")
    monkeypatch.setattr(render_mod, "_numba_kernel", None)
    monkeypatch.setitem(__import__("sys").modules, "worldstereo.geometry.render_cpu", None)  # import fails
    with caplog.at_level("DEBUG", logger="worldstereo.geometry.render"):
        out = render_points(pc, cam, H, W)
        render_points(pc, cam, H, W)
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "numba" in caplog.records[0].message
    assert all(torch.equal(a, b) for a, b in zip(out, torch_out))
    with pytest.raises(RuntimeError, match="numba"):
        render_points(pc, cam, H, W, backend="numba")
    with pytest.raises(ValueError, match="backend"):
        render_points(pc, cam, H, W, backend="opengl")
