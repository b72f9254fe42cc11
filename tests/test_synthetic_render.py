"""Synthetic engine: determinism, exact depth, unprojection onto the surface, panoramas."""

from __future__ import annotations

import numpy as np
import pytest

from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.camera.panorama import directions_to_equirect
from worldstereo.data.synthetic import KINDS, make_scene, render, render_panorama
from worldstereo.data.synthetic.layouts import _Builder
from worldstereo.data.synthetic import meshes


@pytest.fixture(scope="module")
def room():
    return make_scene(4, "room")


def _camera(eye, target, w=64, h=48, fov=60.0) -> Cameras:
    return Cameras(intrinsics_from_fov(fov, w, h), look_at(np.asarray(eye, float), np.asarray(target, float)), w, h)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_scene_and_images(kind):
    a, b = make_scene(11, kind), make_scene(11, kind)
    assert a.fingerprint() == b.fingerprint()
    cams_a = a.sample_camera(np.random.default_rng(3), 48, 32)
    cams_b = b.sample_camera(np.random.default_rng(3), 48, 32)
    ra, rb = render(a, cams_a), render(b, cams_b)
    for field in ("frames", "depth", "normals", "xyz", "object_ids"):
        assert np.array_equal(getattr(ra, field), getattr(rb, field)), field
    assert make_scene(12, kind).fingerprint() != a.fingerprint()


def test_make_scene_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        make_scene(0, "cave")
    with pytest.raises(ValueError, match="seed"):
        make_scene(-1, "room")


def test_room_has_walls_floor_and_objects(room):
    names = set(room.object_names)
    assert {"floor", "wall_back", "wall_front", "wall_left", "wall_right"} <= names
    n_objects = sum(1 for i in room.solid_ids)
    assert 4 <= n_objects <= 12
    # textures mix photographs and patterns: some are far from grey, values in range
    assert room.textures.min() >= 0 and room.textures.max() <= 1
    assert room.textures.dtype == np.float32


def test_rooms_hold_4_to_12_objects_some_stacked():
    stacked = 0
    for seed in range(8):
        scene = make_scene(seed, "room")
        solids = sorted(scene.solid_ids)
        assert 4 <= len(solids) <= 12
        for i in solids:
            lowest = scene.vertices[scene.triangles[scene.triangle_object == i]][..., 1].max()
            stacked += lowest < -0.05  # its base is off the floor (y = 0)
    assert stacked > 0


def test_depth_of_a_plane_equals_the_analytic_depth(room):
    """Looking straight at the back wall (z = const) from the room centre: depth = z_wall - z_eye."""
    wall = [i for i, n in enumerate(room.object_names) if n == "wall_back"]
    z_wall = room.vertices[room.triangles[np.isin(room.triangle_object, wall)]][..., 2].max()
    eye = np.array([0.1, -1.7, 0.3])
    cam = Cameras(intrinsics_from_fov(40.0, 40, 30), np.linalg.inv(np.c_[np.eye(4, 3), [*eye, 1.0]]), 40, 30)
    out = render(room, cam)
    on_wall = np.isin(out.object_ids[0], wall)
    assert on_wall.sum() > 100
    np.testing.assert_allclose(out.depth[0][on_wall], z_wall - eye[2], rtol=1e-6)
    # the wall's normal faces the camera
    np.testing.assert_allclose(out.normals[0][on_wall], [[0, 0, -1]] * int(on_wall.sum()), atol=1e-6)


def test_depth_of_a_box_equals_the_analytic_depth():
    """An axis-aligned box in front of a camera at the origin: its front face is at z = z0 and covers
    exactly the pixels whose rays cross z0 inside the face."""
    b = _Builder(np.random.default_rng(0))
    z0, half, height = 3.0, 0.5, 1.0
    box = meshes.box(2 * half, height, 0.4, 1.0).transformed(np.eye(3), [0.2, 0.3, z0 + 0.2])
    b.add("box", box, b.texture("checker"), solid=True)
    scene = b.build(0, "test", np.zeros((2, 3)), np.zeros((2, 3)), (0, 1), 1.0, (np.full(3, -9), np.full(3, 9)))
    cam = Cameras(intrinsics_from_fov(60.0, 80, 60), np.eye(4), 80, 60)
    out = render(scene, cam)
    v, u = np.meshgrid(np.arange(60) + 0.5, np.arange(80) + 0.5, indexing="ij")
    K = cam.K[0]
    x = (u - K[0, 2]) / K[0, 0] * z0
    y = (v - K[1, 2]) / K[1, 1] * z0
    inside = (np.abs(x - 0.2) < half) & (y < 0.3) & (y > 0.3 - height)
    hit = out.depth[0] > 0
    assert inside.sum() > 200
    # float32 ray casting may only disagree on rays grazing an edge
    edge = np.minimum.reduce([np.abs(np.abs(x - 0.2) - half), np.abs(y - 0.3), np.abs(y - 0.3 + height)]) < 1e-5
    assert np.array_equal(inside[~edge], hit[~edge])
    np.testing.assert_allclose(out.depth[0][hit], z0, rtol=1e-6)
    assert out.depth[0][~hit].max() == 0 and (out.object_ids[0][~hit] == -1).all()


@pytest.mark.parametrize("kind", KINDS)
def test_unprojected_depth_lands_on_the_surface(kind):
    scene = make_scene(5, kind)
    cams = Cameras.concat([scene.sample_camera(np.random.default_rng(i), 64, 48) for i in range(2)])
    out = render(scene, cams)
    valid = out.depth > 0
    assert valid.mean() > 0.99  # every kind is closed (ceiling-less rooms aside): all pixels hit
    pix = np.stack(np.meshgrid(np.arange(64) + 0.5, np.arange(48) + 0.5), -1).reshape(-1, 2)
    pts = cams.unproject(pix, out.depth.reshape(2, -1).astype(np.float64))
    dist = scene.min_distance(pts.reshape(-1, 3)[valid.ravel()])
    assert np.median(dist / out.depth[valid]) < 1e-4
    # the xyz output is the same point
    np.testing.assert_allclose(out.xyz[valid], pts.reshape(-1, 3)[valid.ravel()], atol=1e-4 * out.depth.max())


def test_convention_render_pixel_centres_match_camera_projection(room):
    cam = room.sample_camera(np.random.default_rng(1), 50, 40)
    out = render(room, cam)
    i, j = np.meshgrid(np.arange(40), np.arange(50), indexing="ij")
    uv, z = cam.project(out.xyz[0].reshape(-1, 3).astype(np.float64))
    np.testing.assert_allclose(uv[0], np.stack([j.ravel() + 0.5, i.ravel() + 0.5], -1), atol=2e-3)
    np.testing.assert_allclose(z[0], out.depth[0].ravel(), rtol=1e-5)


def test_convention_image_up_is_world_up(room):
    """The floor (y = 0, world down) fills the bottom rows of an upright camera, not the top."""
    cam = _camera([0.0, -1.6, -1.0], [0.0, -1.0, 2.0])
    ids = render(room, cam).object_ids[0]
    floor = [i for i, n in enumerate(room.object_names) if n == "floor"]
    assert np.isin(ids[-1], floor).mean() > np.isin(ids[0], floor).mean()


def test_lambert_shading_darkens_by_normal_and_unlit_is_the_texture(room):
    cam = room.sample_camera(np.random.default_rng(2), 48, 36)
    flat = render(room, cam)
    lit = render(room, cam, shading="lambert", ambient=0.2)
    valid = flat.depth[0] > 0
    ratio = lit.frames[0][valid].sum(-1) / np.maximum(flat.frames[0][valid].sum(-1), 1e-6)
    light = np.array([0.3, -1.0, -0.4]) / np.linalg.norm([0.3, -1.0, -0.4])
    expected = 0.2 + 0.8 * np.clip(flat.normals[0][valid] @ light, 0, None)
    bright = flat.frames[0][valid].sum(-1) > 0.05
    np.testing.assert_allclose(ratio[bright], expected[bright], rtol=1e-4)
    with pytest.raises(ValueError, match="shading"):
        render(room, cam, shading="phong")


def test_sample_surface_points_lie_on_the_surface_with_texture_colours(room):
    s = room.sample_surface(2000, seed=1)
    assert s.points.shape == (2000, 3) and s.colors.shape == (2000, 3)
    assert room.min_distance(s.points).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(s.normals, axis=1), 1.0, atol=1e-6)
    assert 0 <= s.colors.min() and s.colors.max() <= 1 and s.colors.std() > 0.05
    assert np.array_equal(s.points, room.sample_surface(2000, seed=1).points)


def test_sample_surface_leaves_out_the_sky():
    scene = make_scene(2, "outdoor")
    sky = [i for i, n in enumerate(scene.object_names) if n == "sky"]
    assert not np.isin(scene.sample_surface(500).object_ids, sky).any()
    assert np.isin(scene.sample_surface(20000, include_background=True).object_ids, sky).any()


def test_free_space_and_median_depth(room):
    solid = sorted(room.solid_ids)[0]
    inside = room.vertices[room.triangles[room.triangle_object == solid]].reshape(-1, 3).mean(0)
    outside_room = np.array([0.0, -1.5, 100.0])
    centre = np.array([0.0, -2.0, 0.0])
    assert room.is_free(np.stack([inside, outside_room, centre]), 0.1).tolist() == [False, False, True]
    # a camera looking straight at the back wall from distance d has median depth d
    wall = [i for i, n in enumerate(room.object_names) if n == "wall_back"]
    z_wall = room.vertices[room.triangles[np.isin(room.triangle_object, wall)]][..., 2].max()
    cam = Cameras(intrinsics_from_fov(20.0, 32, 24), np.linalg.inv(np.c_[np.eye(4, 3), [0.0, -2.0, 0.0, 1.0]]), 32, 24)
    assert room.median_depth(cam) == pytest.approx(z_wall, rel=1e-5)


def test_panorama_seam_is_continuous_and_matches_ray_casting(room):
    center = np.array([0.1, -1.5, 0.2])
    pano = render_panorama(room, center, 64)
    assert pano.rgb.shape == (64, 128, 3) and pano.distance.shape == (64, 128)
    d = pano.distance
    # the seam (last column -> first column) is as smooth as any neighbouring pair of columns
    neighbour = np.abs(np.diff(d, axis=1)).mean(0)
    seam = np.abs(d[:, 0] - d[:, -1]).mean()
    assert seam <= 3 * np.median(neighbour)
    seam_rgb = np.abs(pano.rgb[:, 0] - pano.rgb[:, -1]).mean()
    assert seam_rgb <= 3 * np.median(np.abs(np.diff(pano.rgb, axis=1)).mean((0, 2)))
    # the pixel looking straight back (lon = +-pi) agrees with a perspective camera facing -z
    back = _camera(center, center + [0.0, 0.0, -1.0], 33, 33, 10.0)
    z_back = render(room, back).depth[0, 16, 16]
    assert d[31:33, [0, -1]].mean() == pytest.approx(z_back, rel=2e-2)
    # forward (+z) is the centre of the image
    u, v = directions_to_equirect(np.array([0.0, 0.0, 1.0]), 64, 128)
    fwd = render(room, _camera(center, center + [0.0, 0.0, 1.0], 33, 33, 10.0)).depth[0, 16, 16]
    assert d[int(v) - 1:int(v) + 1, int(u) - 1:int(u) + 1].mean() == pytest.approx(fwd, rel=2e-2)


def test_texture_atlas_fast_path_matches_the_numpy_reference(room):
    from worldstereo.data.synthetic.textures import sample_textures

    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(room.textures), 5000)
    uv = rng.uniform(-3, 3, (5000, 2)).astype(np.float32)
    fast = room.atlas.sample(ids, uv)
    ref = sample_textures(room.textures, ids, uv)
    # cv2.remap interpolates at 1/32 texel
    assert np.abs(fast - ref).max() < 0.05 and np.abs(fast - ref).mean() < 5e-3
