"""A tiny model with its camera branch active overfits one synthetic clip (flow-matching loss falls >= 90 %)."""

import torch
from models_synth import one_thread, plane_clip, to_model

from worldstereo.camera import plucker_rays
from worldstereo.models import Conditioning, WorldStereoModel, add_noise, flow_matching_loss, get_config


def test_tiny_model_overfits_one_clip_with_camera_branch():
    with one_thread():
        _test_tiny_model_overfits_one_clip_with_camera_branch()


def _test_tiny_model_overfits_one_clip_with_camera_branch():
    """One clip, one noise draw, σ cycling over four levels (a fixed target, so memorising it is possible)."""
    torch.manual_seed(0)
    cfg = get_config("tiny")
    cfg.ssm.enabled = cfg.pose.enabled = False
    model = WorldStereoModel(cfg)
    frames, cams = plane_clip(num_frames=3)
    x = to_model(frames)
    x0 = model.codec.encode(x)
    hole = torch.zeros(1, 1, 3, 64, 64)
    hole[..., 40:] = 1
    plucker = plucker_rays(cams, 64, 64).permute(1, 0, 2, 3)[None]
    cond = Conditioning(*model.image_condition(x[:, :, 0], 3),
                        camera=model.camera_condition(x * (1 - hole), hole, plucker))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    sigmas = torch.tensor([0.2, 0.4, 0.6, 0.8])
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.0)
    losses = []
    for step in range(300):
        sigma = sigmas[step % 4:step % 4 + 1]
        loss = flow_matching_loss(model(add_noise(x0, noise, sigma), sigma * 1000, cond).sample, x0, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step >= 7 and sum(losses[-4:]) <= 0.1 * sum(losses[:4]):
            break
    assert sum(losses[-4:]) <= 0.1 * sum(losses[:4]), (losses[:4], losses[-4:], len(losses))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.camera_branch.parameters())
