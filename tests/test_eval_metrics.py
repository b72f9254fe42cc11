import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from worldstereo.camera import CameraTrajectory, Cameras, intrinsics_from_fov, orbit, rotate
from worldstereo.camera.transforms import rigid
from worldstereo.eval import (
    align_by_anchors, align_by_first_camera, ate, camera_metrics, chamfer, f_score, f_score_auc, pointcloud_metrics,
    pose_auc, psnr, rot_err, ssim, trans_err,
)

K = intrinsics_from_fov(60, 64, 48)


def _random_traj(rng, n=20):
    t = np.cumsum(rng.normal(scale=0.2, size=(n, 3)), 0)
    rots = Rotation.from_rotvec(np.cumsum(rng.normal(scale=0.1, size=(n, 3)), 0)).as_matrix()
    world_from_cam = np.stack([rigid(R, c) for R, c in zip(rots, t)])
    return Cameras.from_world_from_cam(K, world_from_cam, 64, 48)


def _sim3_copy(cams: Cameras, s: float, R: np.ndarray, t) -> Cameras:
    """The same rig expressed in a world scaled by s, rotated by R and shifted by t."""
    W = cams.world_from_cam.copy()
    W[:, :3, :3] = R @ W[:, :3, :3]
    W[:, :3, 3] = s * W[:, :3, 3] @ R.T + np.asarray(t, dtype=float)
    return Cameras.from_world_from_cam(cams.K, W, cams.width, cams.height)


def test_ate_equals_evo_ape_sim3(rng):
    from evo.core import metrics
    from evo.core.trajectory import PosePath3D

    for k in range(5):
        gt = _random_traj(rng)
        noisy = gt.world_from_cam.copy()
        noisy[:, :3, 3] += rng.normal(scale=0.05, size=(len(gt), 3))
        R = Rotation.random(random_state=k).as_matrix()
        est = _sim3_copy(Cameras.from_world_from_cam(K, noisy, 64, 48), 2.3, R, [1, 2, 3])
        ref_path = PosePath3D(poses_se3=list(gt.world_from_cam))
        est_path = PosePath3D(poses_se3=list(est.world_from_cam))
        est_path.align(ref_path, correct_scale=True)
        ape = metrics.APE(metrics.PoseRelation.translation_part)
        ape.process_data((ref_path, est_path))
        assert ate(est, gt) == pytest.approx(ape.get_statistic(metrics.StatisticsType.rmse), abs=1e-9)


def test_rot_err_zero_for_itself_and_known_for_rotated_copy(rng):
    gt = _random_traj(rng, n=12)
    assert rot_err(gt, gt) == pytest.approx(0, abs=1e-6)
    # every frame after the first turned by a further 3 degrees about its own z axis
    T = gt.cam_from_world.copy()
    turn = rigid(Rotation.from_euler("z", 3, degrees=True).as_matrix(), np.zeros(3))
    T[1:] = turn @ T[1:]
    est = Cameras(K, T, 64, 48)
    assert rot_err(est, gt, unit="deg") == pytest.approx(3.0 * 11, abs=1e-6)
    assert rot_err(est, gt, reduction="mean", unit="deg") == pytest.approx(3.0 * 11 / 12, abs=1e-6)
    assert rot_err(est, gt, unit="rad") == pytest.approx(np.radians(33), abs=1e-8)


def test_metrics_invariant_to_world_similarity(rng):
    gt = _random_traj(rng)
    moved = _sim3_copy(gt, 0.37, Rotation.random(random_state=4).as_matrix(), [5, -1, 2])
    m = camera_metrics(moved, gt)
    assert m["rot_err"] == pytest.approx(0, abs=1e-6) and m["trans_err"] == pytest.approx(0, abs=1e-9)
    assert m["ate"] == pytest.approx(0, abs=1e-9)
    assert m["auc@3"] == pytest.approx(1.0)
    assert (m["reduction"], m["unit"], m["scale"]) == ("sum", "rad", "max_norm")


def test_trans_err_scale_modes():
    plan = rotate("left", 60, 2.0, K=K, width=64, height=48, n_frames=9)
    half = CameraTrajectory(_sim3_copy(plan.cameras, 0.5, np.eye(3), np.zeros(3)))
    assert trans_err(half, plan, scale="max_norm") == pytest.approx(0, abs=1e-12)
    assert trans_err(half, plan, scale="sim3") == pytest.approx(0, abs=1e-9)
    c = plan.cameras.centers
    assert trans_err(half, plan, scale="none") == pytest.approx(np.linalg.norm(c / 2, axis=1).sum())
    with pytest.raises(ValueError, match="scale"):
        trans_err(half, plan, scale="bogus")


def test_pose_auc_drops_with_error(rng):
    gt = orbit(2.0, K=K, width=64, height=48, n_frames=12).cameras
    noisy = gt.cam_from_world.copy()
    for i in range(1, len(noisy)):
        noisy[i] = rigid(Rotation.from_rotvec(rng.normal(scale=0.1, size=3)).as_matrix(), np.zeros(3)) @ noisy[i]
    auc = pose_auc(Cameras(K, noisy, 64, 48), gt)
    assert 0 <= auc["auc@3"] < auc["auc@30"] < 1


def test_frame_count_mismatch(rng):
    gt = _random_traj(rng)
    with pytest.raises(ValueError, match="must match"):
        ate(gt[:5], gt)


# -- images ---------------------------------------------------------------------------------------------
def test_psnr_ssim_equal_skimage(rng):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = rng.random((40, 50, 3))
    b = np.clip(a + rng.normal(scale=0.1, size=a.shape), 0, 1)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1), abs=1e-9)
    ref = structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)


def test_masked_psnr_uses_only_masked_pixels(rng):
    a = rng.random((32, 32, 3))
    b = a.copy()
    b[:, 16:] = 0  # damage the right half only
    left = np.zeros((32, 32), bool)
    left[:, :10] = True
    assert psnr(a, b, mask=left) == float("inf")
    assert psnr(a, b, mask=~left) < 15
    assert ssim(a, b, mask=left) == pytest.approx(1.0, abs=1e-9)


# -- point clouds -----------------------------------------------------------------------------------------
def _plane(n=60, size=1.0):
    g = np.linspace(0, size, n)
    x, y = np.meshgrid(g, g)
    return np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], 1)


def test_f1_self_is_one_and_shifted_by_2tau_is_zero():
    pts = _plane()
    tau = 0.02
    assert f_score(pts, pts, tau).f1 == pytest.approx(1.0)
    shifted = pts + [0, 0, 2 * tau]
    s = f_score(shifted, pts, tau)
    assert s.f1 == 0.0 and s.precision == 0.0 and s.recall == 0.0
    assert f_score_auc(f_score(pts, pts, tau), tau_max=2 * tau) == pytest.approx(1.0)


def test_precision_and_recall_are_not_symmetric():
    pts = _plane()
    half = pts[pts[:, 0] < 0.5]
    s = f_score(half, pts, 0.02)
    assert s.precision == pytest.approx(1.0) and 0.4 < s.recall < 0.6
    m = pointcloud_metrics(half, pts, 0.02)
    assert set(m) >= {"precision", "recall", "f1", "auc", "tau_max", "chamfer"} and m["chamfer"] > 0


def test_alignment_by_anchors_recovers_sim3(rng):
    gt = rng.random((500, 3)) * [2, 1, 1.5]
    R = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    rec = (gt - [0.3, 0.1, 0]) @ R * 0.6  # an unknown similarity away from gt
    T = align_by_anchors(rec[:50], gt[:50])
    assert np.allclose(T.apply(rec), gt, atol=1e-9)
    assert chamfer(T.apply(rec), gt) < 1e-9


def test_first_camera_plus_icp_alignment(rng):
    gt_pts = np.concatenate([_plane(40) + [0, 0, 3], rng.random((300, 3)) + [0, 0, 3]])
    gt_cam = Cameras.identity(K, 64, 48)
    # the reconstruction's world: its first camera sits at x = 1.5 and everything is scaled by 0.8
    rec_pts = 0.8 * (gt_pts + [1.5, 0, 0])
    T_rec = np.eye(4)
    T_rec[:3, 3] = [-1.5 * 0.8, 0, 0]  # cam_from_world of the first reconstructed camera (rotation only is used)
    rec_cam = Cameras(K, T_rec, 64, 48)
    T = align_by_first_camera(rec_pts, gt_pts, rec_cam, gt_cam)
    assert T.scale == pytest.approx(1 / 0.8, rel=1e-3)
    assert np.abs(T.apply(rec_pts) - gt_pts).max() < 1e-3


# -- LPIPS from local weights -------------------------------------------------------------------------------
def _fake_reference_weights(folder, seed=0):
    """Random tensors under the reference implementation's key names, in two files as users have them."""
    import torch
    from safetensors.torch import save_file

    from worldstereo.eval.lpips import LPIPSAlex

    torch.manual_seed(seed)
    net = LPIPSAlex()
    feats = {}
    for k, idx in enumerate((0, 3, 6, 8, 10)):
        feats[f"features.{idx}.weight"] = net.convs[k].weight.detach().clone()
        feats[f"features.{idx}.bias"] = net.convs[k].bias.detach().clone()
    lins = {f"lin{k}.model.1.weight": net.lins[k].weight.detach().abs().clone() for k in range(5)}
    save_file(feats, str(folder / "alexnet.safetensors"))
    torch.save(lins, folder / "alex.pth")
    return net


def test_lpips_from_local_weights(tmp_path, rng):
    from worldstereo.eval import load_lpips, lpips

    _fake_reference_weights(tmp_path)
    net = load_lpips(tmp_path)
    a = rng.random((2, 64, 64, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(scale=0.2, size=a.shape), 0, 1).astype(np.float32)
    assert lpips(a, a, net) == pytest.approx(0.0, abs=1e-7)
    d = lpips(a, b, net)
    assert d > 0 and d == pytest.approx(lpips(b, a, net), rel=1e-5)
    assert lpips(a, np.clip(a + 0.4 * (b - a), 0, 1), net) < d  # closer image, smaller distance


def test_lpips_without_weights_is_an_error_not_a_number(tmp_path):
    from worldstereo.eval import load_lpips

    with pytest.raises(FileNotFoundError, match="no LPIPS weights"):
        load_lpips(tmp_path / "missing")
    (tmp_path / "w").mkdir()
    import torch

    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "w" / "alex.pth")
    with pytest.raises(ValueError, match="missing"):
        load_lpips(tmp_path / "w")


def test_masked_scores_split_visible_and_disoccluded(rng):
    from worldstereo.eval import masked_scores

    gt = rng.random((2, 32, 32, 3))
    gen = gt.copy()
    hole = np.zeros((2, 32, 32), bool)
    hole[:, :, 20:] = True
    gen[hole] = rng.random((int(hole.sum()), 3))
    s = masked_scores(gen, gt, hole)
    assert s["psnr_visible"] == float("inf") and s["psnr_disoccluded"] < 15
    assert s["disoccluded_share"] == pytest.approx(12 / 32)


def test_gradient_energy_constant_ramp_and_noise(rng):
    from worldstereo.eval import gradient_energy

    assert gradient_energy(np.full((2, 16, 20, 3), 0.4)) == 0.0
    yy, xx = np.mgrid[0:16, 0:20].astype(np.float64)
    a, b = 0.01, 0.03
    ramp = np.repeat((a * xx + b * yy)[..., None], 3, -1)
    assert gradient_energy(ramp) == pytest.approx(a**2 + b**2, rel=1e-12)
    assert gradient_energy(np.stack([ramp, ramp])) == pytest.approx(a**2 + b**2, rel=1e-12)
    # per-pixel noise of variance s2: each difference has variance 2 s2, two directions -> 4 s2
    noise = rng.uniform(0, 1, (4, 64, 64, 3))
    assert gradient_energy(noise) == pytest.approx(4 / 12, rel=0.05)
    with pytest.raises(ValueError):
        gradient_energy(np.zeros((1, 5, 3)))
