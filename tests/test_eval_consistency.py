"""Cross-trajectory consistency and the pose-head camera backend, on analytic cases."""

import numpy as np
import pytest
import torch

from worldstereo.camera import Cameras, intrinsics_from_fov
from worldstereo.eval import TrajectoryView, cross_trajectory_consistency, estimate_cameras, pair_consistency

W, H, Z = 64, 48, 4.0


def _cam(center=(0.0, 0.0, 0.0)) -> Cameras:
    T = np.eye(4)
    T[:3, 3] = -np.asarray(center, float)
    return Cameras(intrinsics_from_fov(60.0, W, H), T, W, H)


def _ramp() -> np.ndarray:
    """Colour linear in the column, so bilinear sampling is exact and a shift reads as a known L1."""
    u = np.arange(W) + 0.5
    return np.broadcast_to((0.01 * u)[None, :, None], (H, W, 3)).astype(np.float64)


def test_identical_frames_agree_perfectly():
    img, depth = np.random.default_rng(0).uniform(size=(H, W, 3)), np.full((H, W), Z)
    pc = pair_consistency(img, depth, _cam(), img, depth, _cam())
    assert pc.visible_share == 1.0
    assert pc.reprojection_error_px == pytest.approx(0.0, abs=1e-9)
    assert pc.photometric_l1 == pytest.approx(0.0, abs=1e-12) and pc.photometric_psnr > 200
    assert pc.consistent_share == 1.0


def test_sideways_camera_error_shifts_colours_by_a_known_amount():
    """B is really A, but its camera is claimed 2 px of parallax to the right on a plane at depth Z: the
    plane's depth map does not change, so geometry stays consistent, and colours are off by 2 px of ramp."""
    cam_a = _cam()
    delta = 2.0 * Z / cam_a.K[0, 0, 0]
    depth = np.full((H, W), Z)
    pc = pair_consistency(_ramp(), depth, cam_a, _ramp(), depth, _cam((delta, 0, 0)))
    assert pc.reprojection_error_px == pytest.approx(0.0, abs=1e-9)
    assert pc.photometric_l1 == pytest.approx(0.02, abs=1e-9)
    assert pc.visible_share == pytest.approx((W - 2) / W)


def test_forward_camera_error_gives_the_analytic_reprojection_error():
    """Claimed B moved forward by d on a fronto-parallel plane: A's pixel at r from the principal point
    comes back at r · Z² / (Z² − d²), an error of r · d² / (Z² − d²)."""
    cam_a, d = _cam(), 0.5
    depth = np.full((H, W), Z)
    img = np.zeros((H, W, 3))
    pc = pair_consistency(img, depth, cam_a, img, depth, _cam((0, 0, d)))
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    r = np.hypot(jj - W / 2, ii - H / 2)
    # visible: the landing point (magnified by Z / (Z - d) about the centre) stays inside B
    mag = Z / (Z - d)
    inside = ((jj - W / 2) * mag + W / 2 >= 0) & ((jj - W / 2) * mag + W / 2 < W) & \
             ((ii - H / 2) * mag + H / 2 >= 0) & ((ii - H / 2) * mag + H / 2 < H)
    expected = (r * d**2 / (Z**2 - d**2))[inside].mean()
    assert pc.n_visible == int(inside.sum())
    assert pc.reprojection_error_px == pytest.approx(expected, rel=1e-9)


def test_occluded_points_are_not_compared():
    cam = _cam()
    depth_b = np.full((H, W), Z)
    depth_b[:, : W // 2] = 1.0  # a near wall in B's left half hides A's far plane there
    pc = pair_consistency(np.zeros((H, W, 3)), np.full((H, W), Z), cam, np.ones((H, W, 3)), depth_b, cam)
    assert pc.visible_share == pytest.approx(0.5)


def test_cross_trajectory_consistency_pools_matching_frames():
    rng = np.random.default_rng(1)
    cams = Cameras.concat([_cam((0.02 * i, 0, 0)) for i in range(3)])
    img = rng.uniform(size=(3, H, W, 3))
    depth = np.full((3, H, W), Z)
    a = TrajectoryView("a", img, depth, cams)
    b = TrajectoryView("b", img.copy(), depth, cams)
    out = cross_trajectory_consistency([a, b], scene_depth=Z)
    assert out["pairs"] == 4  # frames 1 and 2 of b matched to a's, scored both ways
    assert out["reprojection_error_px"] == pytest.approx(0.0, abs=1e-9)
    assert out["photometric_psnr"] > 200


def test_pose_head_backend_on_random_tiny_model():
    from worldstereo.models import WorldStereoModel, get_config

    torch.manual_seed(0)
    cfg = get_config("tiny")
    cfg.camera.enabled = cfg.ssm.enabled = False
    model = WorldStereoModel(cfg).eval()
    frames = np.random.default_rng(0).uniform(size=(5, 30, 40, 3)).astype(np.float32)
    K = intrinsics_from_fov(60.0, 40, 30)
    est = estimate_cameras(frames, K, backend="pose-head", model=model)
    assert est.backend == "pose-head" and est.registered.all()
    assert len(est.cameras) == 5 and (est.cameras.width, est.cameras.height) == (40, 30)
    assert np.allclose(est.cameras.K, K)
    assert np.allclose(est.cameras.cam_from_world[0], np.eye(4))
    with pytest.raises(ValueError, match="model="):
        estimate_cameras(frames, K, backend="pose-head")
