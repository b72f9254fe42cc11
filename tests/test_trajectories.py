import logging

import numpy as np
import pytest

from worldstereo.camera import (
    CameraTrajectory, Cameras, check_smoothness, default_plan, dolly, intrinsics_from_fov, orbit, pan, resample,
    rotate, spline, truck, zoom,
)

W, H = 64, 48
K = intrinsics_from_fov(60, W, H)
COMMON = dict(K=K, width=W, height=H, n_frames=17)


def _pivot_pixels(traj, depth):
    uv, z = traj.cameras.project(np.array([[0.0, 0.0, depth]]))
    return uv[:, 0], z[:, 0]


@pytest.mark.parametrize("direction", ["up", "down", "left", "right"])
def test_rotate_keeps_pivot_centred_and_distance_constant(direction):
    traj = rotate(direction, 60, 2.5, **COMMON)
    uv, _ = _pivot_pixels(traj, 2.5)
    assert np.allclose(uv, K[:2, 2], atol=1e-9)
    dist = np.linalg.norm(traj.cameras.centers - [0, 0, 2.5], axis=1)
    assert np.allclose(dist, 2.5, atol=1e-12)
    assert np.allclose(traj.cameras.cam_from_world[0], np.eye(4))


@pytest.mark.parametrize("direction, axis, sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
def test_convention_rotate_direction_moves_centre(direction, axis, sign):
    """'left' moves the camera centre toward -x of the input camera, 'up' toward -y (OpenCV y is down)."""
    c = rotate(direction, 30, 2.0, **COMMON).cameras.centers
    assert np.sign(c[-1, axis]) == sign and abs(c[-1, 1 - axis]) < 1e-12
    assert np.all(np.diff(c[:, axis]) * sign > 0)


def test_rotate_angle_is_exact():
    traj = rotate("left", 90, 3.0, **COMMON)
    assert np.allclose(traj.cameras.centers[-1], [-3.0, 0.0, 3.0])
    # the last camera looks along +x (at the pivot from its left)
    assert np.allclose(traj.cameras.world_from_cam[-1, :3, 2], [1, 0, 0], atol=1e-12)


def test_orbit_closes_and_looks_at_pivot():
    traj = orbit(2.0, 0.3, **COMMON)
    T = traj.cameras.cam_from_world
    assert np.abs(T[-1] - T[0]).max() <= 1e-6
    assert np.allclose(T[0], np.eye(4), atol=1e-12)
    uv, _ = _pivot_pixels(traj, 2.0)
    assert np.allclose(uv, K[:2, 2], atol=1e-9)
    c = traj.cameras.centers
    assert np.allclose(np.linalg.norm(c - [0, -0.6, 0], axis=1), 0.6)  # circle of radius 0.3 x depth
    assert np.allclose(c[:, 2], 0.0)


def test_convention_orbit_goes_right_then_up():
    c = orbit(2.0, 0.3, **COMMON).cameras.centers
    assert c[2, 0] > 0 and c[8, 1] < 0  # early frames move right (+x), halfway it is above (-y)


def test_convention_dolly_truck_pan_zoom_directions():
    assert dolly(1.0, **COMMON).cameras.centers[-1] == pytest.approx([0, 0, 1.0])
    assert truck(0.5, -0.2, **COMMON).cameras.centers[-1] == pytest.approx([0.5, -0.2, 0])
    p = pan(30, 10, **COMMON).cameras
    fwd = p.world_from_cam[-1, :3, 2]
    assert fwd[0] > 0 and fwd[1] < 0  # looks right (+x) and up (-y)
    assert np.degrees(np.arccos(np.clip(fwd @ [0, 0, 1], -1, 1))) > 29
    assert np.allclose(p.centers, 0)
    z = zoom(2.0, **COMMON).cameras
    assert np.isclose(z.K[-1, 0, 0], 2 * K[0, 0]) and np.allclose(z.cam_from_world, np.eye(4))


def test_spline_passes_through_keyframes_and_is_smooth():
    keys = rotate("right", 60, 2.0, K=K, width=W, height=H, n_frames=4).cameras
    traj = spline(keys, 31, times=[0, 1, 2, 3])
    idx = [0, 10, 20, 30]
    assert np.allclose(traj.cameras.cam_from_world[idx], keys.cam_from_world, atol=1e-9)
    assert check_smoothness(traj).smooth


def test_resample_keeps_ends_and_path():
    traj = rotate("up", 45, 2.0, **COMMON)
    r = resample(traj, 33)
    assert len(r) == 33
    assert np.allclose(r.cameras.cam_from_world[[0, -1]], traj.cameras.cam_from_world[[0, -1]], atol=1e-9)
    # samples stay on the rotation circle (distance to the pivot within 0.1 %)
    assert np.allclose(np.linalg.norm(r.cameras.centers - [0, 0, 2], axis=1), 2.0, rtol=1e-3)


def test_check_smoothness_flags_a_jump(caplog):
    traj = rotate("left", 40, 2.0, **COMMON)
    T = traj.cameras.cam_from_world.copy()
    T[9:] = rotate("left", 80, 2.0, **COMMON).cameras.cam_from_world[9:]  # a sudden jump at step 8 -> 9
    bumpy = traj.with_cameras(Cameras(traj.cameras.K, T, W, H))
    with caplog.at_level(logging.WARNING):
        report = check_smoothness(bumpy)
    assert 8 in report.rough_steps and not report.smooth
    assert "step 8->9" in caplog.text
    assert check_smoothness(traj).smooth


def test_default_plan_is_papers_appendix_c():
    plan = default_plan(3.0, K, W, H, 21)
    assert [t.name for t in plan] == ["orbit", "up", "right", "left"]
    orb, up, right, left = plan
    assert np.isclose(np.linalg.norm(orb.cameras.centers, axis=1).max(), 2 * 0.3 * 3.0)
    for traj, deg in ((up, 45), (right, 90), (left, 90)):
        fwd = traj.cameras.world_from_cam[-1, :3, 2]
        assert np.isclose(np.degrees(np.arccos(fwd @ [0, 0, 1])), deg)
    assert all(len(t) == 21 for t in plan)


def test_bad_preset_arguments():
    with pytest.raises(ValueError, match="direction"):
        rotate("sideways", 10, 1.0, **COMMON)
    with pytest.raises(ValueError, match="n_frames"):
        rotate("up", 10, 1.0, K=K, width=W, height=H, n_frames=1)
    with pytest.raises(ValueError, match="pivot_depth"):
        rotate("up", 10, -1.0, **COMMON)
    with pytest.raises(ValueError, match="fps"):
        CameraTrajectory(Cameras.identity(K, W, H), fps=0)
