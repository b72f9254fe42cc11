"""Latent codecs: pixel-unshuffle losslessness and layout, Wan-VAE wrapper, Wan's temporal mask folding."""

import pytest
import torch
from diffusers import AutoencoderKLWan

from worldstereo.models import PixelUnshuffleCodec, WanVAECodec, fold_time


def test_pixel_unshuffle_round_trip_is_lossless_and_deterministic():
    codec = PixelUnshuffleCodec(4)
    x = torch.rand(2, 3, 5, 32, 48)
    z = codec.encode(x)
    assert z.shape == (2, 48, 5, 8, 12)
    assert torch.equal(z, codec.encode(x))
    assert torch.allclose(codec.decode(z), x, atol=1e-6)
    assert codec.latent_shape(5, 32, 48) == (48, 5, 8, 12)


def test_convention_pixel_unshuffle_channel_layout():
    """Latent channel c·f² + dy·f + dx at (i, j) holds pixel (i·f + dy, j·f + dx) of colour c, mapped to [-1, 1]."""
    f = 4
    x = torch.rand(1, 3, 1, 16, 16)
    z = PixelUnshuffleCodec(f).encode(x)
    c, dy, dx, i, j = 2, 1, 3, 2, 1
    assert z[0, c * f * f + dy * f + dx, 0, i, j] == pytest.approx(float(2 * x[0, c, 0, i * f + dy, j * f + dx] - 1))


def test_codec_rejects_bad_sizes():
    with pytest.raises(ValueError, match="multiple of the codec factor"):
        PixelUnshuffleCodec(4).encode(torch.rand(1, 3, 2, 30, 32))


def test_convention_fold_time_matches_wan_i2v_mask():
    """Same layout as diffusers' WanImageToVideoPipeline.prepare_latents builds for its first-frame mask."""
    num_frames, t, h, w = 9, 4, 2, 3
    mask = torch.ones(1, 1, num_frames, h, w)
    mask[:, :, 1:] = 0
    first = torch.repeat_interleave(mask[:, :, 0:1], dim=2, repeats=t)
    wan = torch.concat([first, mask[:, :, 1:]], dim=2).view(1, -1, t, h, w).transpose(1, 2)
    assert torch.equal(fold_time(mask, t), wan)
    multi = torch.rand(2, 3, num_frames, h, w)
    folded = fold_time(multi, t)
    assert folded.shape == (2, 12, 3, h, w)
    assert torch.equal(folded[:, 4:8, 2], multi[:, 1, 5:9])


def _tiny_vae() -> AutoencoderKLWan:
    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[2.0, 1.0, 0.5, 1.5]).eval()


def test_wan_vae_codec_normalises_and_encodes_keyframes_independently(tmp_path):
    vae = _tiny_vae()
    vae.save_pretrained(tmp_path / "vae")
    codec = WanVAECodec.from_pretrained(str(tmp_path))
    assert (codec.channels, codec.spatial_factor, codec.temporal_factor) == (4, 8, 4)
    x = torch.rand(1, 3, 5, 16, 16)
    with torch.no_grad():
        z = codec.encode(x)
        raw = vae.encode(x * 2 - 1).latent_dist.mode()
        mean = torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1, 1)
        std = torch.tensor([2.0, 1.0, 0.5, 1.5]).view(1, 4, 1, 1, 1)
        assert z.shape == (1, 4, 2, 2, 2)
        assert torch.allclose(z, (raw - mean) / std, atol=1e-5)
        keys = codec.encode(x, keyframes=True)
        assert keys.shape == (1, 4, 5, 2, 2)
        assert torch.allclose(keys[:, :, 3:4], codec.encode(x[:, :, 3:4]), atol=1e-5)
        assert codec.decode(z).shape == (1, 3, 5, 16, 16)


def test_camera_condition_stacks_render_latents_mask_and_pooled_rays():
    import numpy as np

    from worldstereo.camera import Cameras, intrinsics_from_fov, plucker_rays
    from worldstereo.models import camera_condition, camera_condition_channels

    codec = PixelUnshuffleCodec(4)
    K = intrinsics_from_fov(60.0, 32, 32)
    T = np.repeat(np.eye(4)[None], 3, 0)
    T[:, 0, 3] = [0.0, 0.5, 1.0]
    cams = Cameras(np.repeat(K[None], 3, 0), T, 32, 32)
    rays = plucker_rays(cams, 32, 32).permute(1, 0, 2, 3)[None]
    render = torch.rand(1, 3, 3, 32, 32)
    hole = torch.zeros(1, 1, 3, 32, 32)
    hole[..., :16, :] = 1
    cond = camera_condition(codec, render, hole, rays)
    assert cond.shape == (1, camera_condition_channels(codec), 3, 8, 8) == (1, 55, 3, 8, 8)
    assert torch.equal(cond[:, :48], codec.encode(render))
    assert torch.equal(cond[0, 48, :, :4], torch.ones(3, 4, 8)) and torch.equal(cond[0, 48, :, 4:], torch.zeros(3, 4, 8))
    pooled = rays[0, :, 1, :4, :4].mean(dim=(1, 2))
    assert torch.allclose(cond[0, 49:55, 1, 0, 0], pooled, atol=1e-6)


def test_ssm_inputs_encode_each_pointmap_and_reference_on_its_own():
    """Pointmaps arrive colour-coded (memory.pointmaps) and every image is encoded as its own keyframe."""
    from worldstereo.models import build_ssm_inputs

    g = torch.Generator().manual_seed(0)
    refs, tar_pm, ref_pm = (torch.rand(1, 3, 2, 16, 16, generator=g) for _ in range(3))
    codec = PixelUnshuffleCodec(4)
    inputs = build_ssm_inputs(codec, torch.tensor([1, 3]), refs, tar_pm, ref_pm)
    assert inputs.reference_pointmaps.shape == (1, 48, 2, 4, 4)
    assert torch.equal(inputs.reference_pointmaps, codec.encode(ref_pm, keyframes=True))
    assert torch.equal(inputs.target_pointmaps[:, :, 1], codec.encode(tar_pm[:, :, 1:2], keyframes=True)[:, :, 0])
    assert torch.equal(inputs.reference_latents, codec.encode(refs, keyframes=True))
