"""FreeSpace: the planes a view sees bound where its camera paths may go."""

import numpy as np
import pytest

from worldstereo.geometry.freespace import MARGIN, FreeSpace


def _room_points(seed=0):
    """A floor 1 below the camera and a wall 2 to its left, both seen from the origin, plus a small box."""
    rng = np.random.default_rng(seed)
    floor = np.stack([rng.uniform(-2, 3, 6000), np.ones(6000), rng.uniform(2, 8, 6000)], 1)
    wall = np.stack([np.full(3000, -2.0), rng.uniform(-1, 1, 3000), rng.uniform(2, 8, 3000)], 1)
    box = np.stack([rng.uniform(0.5, 0.8, 300), rng.uniform(0.2, 0.5, 300), np.full(300, 3.0)], 1)  # 3%
    return np.concatenate([floor, wall, box])


def test_seen_planes_bound_the_path_and_small_surfaces_do_not():
    fs = FreeSpace.from_points(_room_points(), scene_depth=4.0)
    assert len(fs.planes) == 2  # floor and wall; the box face is too small to be a bound
    normals = fs.planes[:, :3]
    assert np.allclose(np.abs(normals @ [0, 1, 0]).max(), 1, atol=1e-3)
    assert np.allclose(np.abs(normals @ [1, 0, 0]).max(), 1, atol=1e-3)
    left = np.stack([np.linspace(0, -4, 9), np.zeros(9), np.linspace(0, 2, 9)], 1)  # crosses the wall
    s = fs.scale(left)
    assert s == pytest.approx((2 - MARGIN * 4.0) / 4, rel=1e-3)
    assert fs.clearance(s * left).min() == pytest.approx(0, abs=1e-6) and fs.clearance(left).min() < 0
    assert fs.scale(left * [-1, 1, 1]) == 1.0  # to the right nothing is seen, nothing is guessed
    assert fs.scale(np.array([[0, -3.0, 0]])) == 1.0  # up, away from the floor
    again = FreeSpace.from_points(_room_points(), scene_depth=4.0)
    np.testing.assert_array_equal(again.planes, fs.planes)  # seeded: a resumed run plans the same


def test_default_plan_keeps_the_papers_scale_where_the_scene_allows_and_stays_off_seen_walls():
    from worldstereo.pipelines.api import WorldStereo

    ws = WorldStereo.from_pretrained("warp", max_side=96)
    obj = ws.prepare("object").state
    ws.plan(obj, None, 5)
    assert obj.plan_scales == {"orbit": 1.0, "up": 1.0, "right": 1.0, "left": 1.0}
    prepared = ws.prepare("room")
    room = prepared.state
    left = ws.plan(room, ["left"], 9)[0]
    assert room.plan_scales["left"] < 0.8  # unscaled, it ends 1.8 m behind the room's left wall
    scene = prepared.evaluator
    assert scene.in_free_space(left.cameras).all()


def test_any_trajectory_maker_is_brought_clear_of_seen_walls_and_the_truth_agrees():
    """``SceneState.clear_of_surfaces`` is the one rule for presets and for the tiny-model benchmark's
    sweeps: a 60 degree left turn about the bundled room's median depth crosses its left wall."""
    from worldstereo.camera import rotate
    from worldstereo.pipelines.api import WorldStereo

    prepared = WorldStereo.from_pretrained("warp", max_side=96).prepare("room")
    state, truth = prepared.state, prepared.evaluator
    common = dict(K=state.K, width=state.width, height=state.height, n_frames=9)
    far = rotate("left", 60.0, state.median_depth, **common)
    assert state.free_space.scale(far.cameras.centers) < 1.0 and not truth.in_free_space(far.cameras).all()
    near = state.clear_of_surfaces("left60", lambda depth: rotate("left", 60.0, depth, **common))
    s = state.plan_scales["left60"]
    assert s < 1.0
    np.testing.assert_allclose(near.cameras.centers, far.cameras.centers * s, atol=1e-4 * state.median_depth)
    assert truth.in_free_space(near.cameras).all()
    small = state.clear_of_surfaces("left5", lambda depth: rotate("left", 5.0, depth, **common))
    assert state.plan_scales["left5"] == 1.0
    np.testing.assert_allclose(small.cameras.centers, rotate("left", 5.0, state.median_depth, **common).cameras.centers)


def test_ground_truth_free_space_refuses_a_camera_above_the_ceiling():
    from worldstereo.camera import Cameras
    from worldstereo.data.samples import load_sample
    from worldstereo.eval import SyntheticGroundTruth

    truth = SyntheticGroundTruth.from_meta(load_sample("room").meta)
    sample = load_sample("room")
    cam = Cameras.identity(sample.K, sample.image.shape[1], sample.image.shape[0])
    assert truth.in_free_space(cam).tolist() == [True]  # the input camera stands in the room
    T = np.asarray(cam.cam_from_world, np.float64).copy()
    T[0, :3, 3] -= T[0, :3, :3] @ np.array([0.0, -20.0, 0.0])  # the same camera 20 m up (y points down)
    lifted = Cameras(cam.K, T, cam.width, cam.height)
    assert truth.in_free_space(lifted).tolist() == [False]
