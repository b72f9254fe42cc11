"""JOG3R pose head: registration maths against independent references, and overfitting one clip's pointmaps."""

import numpy as np
import pytest
import torch
from models_synth import one_thread, plane_clip, pointmaps, to_model
from scipy.spatial.transform import Rotation

from worldstereo.models import (Conditioning, add_noise, PointmapPrediction, WorldStereoModel, estimate_focal, get_config,
                                pointmap_loss, register_cameras)


def test_estimate_focal_exact_pointmap():
    _, cams = plane_clip(num_frames=2)
    X11, _, _ = pointmaps(cams, 16, 16)
    f = estimate_focal(X11[0, 0].numpy().transpose(1, 2, 0))
    assert f == pytest.approx(cams.K[0, 0, 0] * 16 / 64, rel=1e-5)


def _gt_prediction(cams, size=16):
    X11, Xf1, Xff = pointmaps(cams, size, size)
    ones = torch.ones(X11.shape[:2] + X11.shape[3:])
    return PointmapPrediction(X11, ones, Xf1, ones, Xff, ones)


def test_register_cameras_recovers_exact_cameras():
    _, cams = plane_clip(num_frames=5)
    est = register_cameras(_gt_prediction(cams), 64, 64)
    assert np.allclose(est.cam_from_world, cams.cam_from_world, atol=1e-4)
    assert np.allclose(est.K, cams.K, rtol=1e-4)


def test_pointmap_loss_is_minimal_at_ground_truth_up_to_scale():
    _, cams = plane_clip(num_frames=3)
    gt = _gt_prediction(cams)
    X11, Xf1, Xff = gt.X11, gt.Xf1, gt.Xff
    scaled = PointmapPrediction(3 * X11, gt.C11, 3 * Xf1, gt.Cf1, 0.5 * Xff, gt.Cff)
    assert float(pointmap_loss(scaled, X11, Xf1, Xff, alpha=0.0)) == pytest.approx(0.0, abs=1e-6)
    wrong = PointmapPrediction(X11, gt.C11, Xf1.flip(-1), gt.Cf1, Xff, gt.Cff)
    assert float(pointmap_loss(wrong, X11, Xf1, Xff, alpha=0.0)) > 0.01


def _rot_err_deg(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    return np.rad2deg(Rotation.from_matrix(R_a @ np.swapaxes(R_b, 1, 2)).magnitude())


@pytest.fixture(scope="module")
def trained_pose_model():
    """A frozen random tiny backbone whose pose head alone is fitted to one clip's V2C features."""
    with one_thread():
        torch.manual_seed(0)
        cfg = get_config("tiny")
        cfg.camera.enabled = cfg.ssm.enabled = False
        model = WorldStereoModel(cfg)
        frames, cams = plane_clip(num_frames=5)
        x = to_model(frames)
        latents = model.codec.encode(x)
        cond = Conditioning(*model.image_condition(x[:, :, 0], 5))
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(1))
        k = cfg.pose.feature_block
        sigma = torch.full((1,), cfg.pose.t_small)
        with torch.no_grad():
            hidden = model(add_noise(latents, noise, sigma), sigma * 1000, cond, capture=(k,)).hidden[k]
        X11, Xf1, Xff = pointmaps(cams, 16, 16)
        steps = 450
        opt = torch.optim.Adam(model.pose_head.parameters(), lr=3e-3)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
        for _ in range(steps):
            loss = pointmap_loss(model.pointmaps(hidden, tuple(latents.shape[2:])), X11, Xf1, Xff)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    return model.eval(), latents, cond, noise, cams


def test_pose_head_overfits_one_clip_v2c(trained_pose_model):
    """V2C through the public API (noise to t_small, one pass, register): rotation error < 2° per frame."""
    model, latents, cond, noise, cams = trained_pose_model
    est = model.estimate_cameras(latents, cond, 64, 64, noise=noise)[0]
    err = _rot_err_deg(est.R, cams.R)
    assert len(est) == 5
    assert err.max() < 2.0, err


def test_generate_with_cameras_costs_no_extra_pass(trained_pose_model):
    model, latents, cond, noise, _ = trained_pose_model
    calls = []
    hook = model.backbone.transformer.patch_embedding.register_forward_hook(lambda *a: calls.append(1))
    try:
        with one_thread():
            out, cams = model.generate_with_cameras(cond, noise, 64, 64, sampler="euler", steps=6, guidance_scale=2.0)
    finally:
        hook.remove()
    assert len(calls) == 12
    assert out.shape == latents.shape and len(cams) == 1 and len(cams[0]) == 5
