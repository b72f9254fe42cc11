"""Render-residual x-prediction (``x_base="render"``): pull-push hole fill, the base in the I2V condition,
and a model that has learned nothing returning the filled render (never noise)."""

import numpy as np
import pytest
import torch
from models_synth import one_thread

from worldstereo.models import Conditioning, ModelConfig, WorldStereoModel, add_noise, get_config
from worldstereo.models.render_base import fill_holes, render_base_frames


def test_fill_keeps_covered_pixels_and_fills_a_constant_image_exactly():
    img = torch.rand(2, 3, 17, 23, generator=torch.Generator().manual_seed(0))
    hole = torch.zeros(2, 1, 17, 23)
    hole[:, :, 3:11, 5:19] = 1
    out = fill_holes(img, hole)
    keep = hole.expand_as(img) == 0
    assert torch.equal(out[keep], img[keep])
    const = torch.full((1, 3, 16, 16), 0.4)
    h = (torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1)) < 0.7).float()
    torch.testing.assert_close(fill_holes(const, h), const, atol=0.02, rtol=0)  # Telea works on 8 bits
    # nothing observed: mid-grey
    torch.testing.assert_close(fill_holes(img[:1], torch.ones(1, 1, 17, 23)), torch.full((1, 3, 17, 23), 0.5))


def test_fill_carries_each_edge_inward_so_a_horizon_survives():
    """A hole across a two-colour edge (sky over ground) keeps the edge: the upper part of the hole takes
    the sky's colour, the lower part the ground's, instead of one average (what a smooth fill gives)."""
    img = torch.zeros(1, 3, 32, 32)
    img[:, :, :16] = torch.tensor([0.9, 0.7, 0.2]).view(1, 3, 1, 1)
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., :, :12] = 1  # the left edge is disoccluded
    out = fill_holes(img, hole)[0]
    torch.testing.assert_close(out[:, 4, 2], torch.tensor([0.9, 0.7, 0.2]), atol=0.02, rtol=0)
    torch.testing.assert_close(out[:, 28, 2], torch.zeros(3), atol=0.02, rtol=0)


def test_config_validation():
    d = get_config("tiny-v2").to_dict()
    assert d["x_base"] == "render" and d["prediction"] == "x"
    assert ModelConfig.from_dict(d) == get_config("tiny-v2")
    with pytest.raises(ValueError, match="x_base"):
        ModelConfig.from_dict({**d, "x_base": "warp"})
    with pytest.raises(ValueError, match="needs prediction 'x'"):
        ModelConfig.from_dict({**d, "prediction": "velocity"})
    assert get_config("tiny").x_base == "none"  # the old config's meaning is unchanged


def _small_v2() -> WorldStereoModel:
    torch.manual_seed(0)
    cfg = get_config("tiny-v2")
    cfg.height = cfg.width = 64
    cfg.num_frames = 5
    cfg.ssm.enabled = cfg.pose.enabled = False
    return WorldStereoModel(cfg).eval()


def _scene(frames: int = 5, size: int = 64):
    g = torch.Generator().manual_seed(2)
    video = torch.rand(1, 3, frames, size, size, generator=g)
    hole = torch.zeros(1, 1, frames, size, size)
    hole[:, :, 1:, :, -16:] = 1  # the right quarter is disoccluded after frame 0
    render = video * (1 - hole)
    return video, render, hole


def test_condition_carries_the_filled_render_and_its_coverage():
    m = _small_v2()
    video, render, hole = _scene()
    cond = Conditioning(*m.image_condition(video[:, :, 0], 5))
    m.add_render_base(cond, render, hole, video[:, :, 0])
    filled = render_base_frames(render, hole, video[:, :, 0])
    torch.testing.assert_close(cond.base, m.codec.encode(filled))
    torch.testing.assert_close(filled[:, :, 0], video[:, :, 0])
    cover = cond.cond_mask[0, 0]  # (F, 8, 8) latent grid of the ×8 codec
    assert cover.shape == (5, 8, 8)
    assert torch.all(cover[0] == 1) and torch.all(cover[1:, :, :6] == 1) and torch.all(cover[1:, :, 6:] == 0)
    # a model without a render base leaves the condition as it was
    plain = WorldStereoModel.from_config("tiny")
    c2 = Conditioning(*plain.image_condition(torch.rand(1, 3, 64, 64), 5))
    before = c2.cond_mask.clone()
    plain.add_render_base(c2, torch.rand(1, 3, 5, 64, 64), torch.zeros(1, 1, 5, 64, 64), torch.rand(1, 3, 64, 64))
    assert c2.base is None and torch.equal(c2.cond_mask, before)


def test_untrained_output_is_the_filled_render_and_sampling_returns_it():
    """With the backbone's output projection at zero (nothing learned), x̂0 is the base exactly, so every
    sampler ends on the filled render: the frames can be wrong but never noise."""
    with one_thread():
        m = _small_v2()
        torch.nn.init.zeros_(m.backbone.transformer.proj_out.weight)
        torch.nn.init.zeros_(m.backbone.transformer.proj_out.bias)
        video, render, hole = _scene()
        cond = Conditioning(*m.image_condition(video[:, :, 0], 5))
        m.add_render_base(cond, render, hole, video[:, :, 0])
        noise = torch.randn(cond.base.shape, generator=torch.Generator().manual_seed(3))
        x = add_noise(cond.base, noise, torch.tensor([0.4]))
        v = m(x, torch.tensor([400.0]), cond).sample
        torch.testing.assert_close(x - 0.4 * v, cond.base, rtol=1e-4, atol=1e-4)
        for sampler in ("euler", "dmd"):
            out = m.generate(cond, noise, sampler, steps=4 if sampler == "dmd" else 8)
            torch.testing.assert_close(out, cond.base, rtol=1e-3, atol=1e-3)


def test_render_anchored_depth_uses_the_render_where_the_frame_agrees():
    from worldstereo.camera import Cameras
    from worldstereo.pipelines.generators.base import GenerationRequest
    from worldstereo.pipelines.generators.model import render_anchored_depth

    n, h, w = 3, 16, 16
    K = np.array([[16.0, 0, 8], [0, 16.0, 8], [0, 0, 1]])
    cams = Cameras(np.repeat(K[None], n, 0), np.repeat(np.eye(4)[None], n, 0), w, h)
    renders = np.full((n, h, w, 3), 0.4, np.float32)
    rdepth = np.full((n, h, w), 2.0, np.float32)
    masks = np.zeros((n, h, w), np.float32)
    masks[:, :, 12:] = 1
    rdepth[:, :, 12:] = 0
    frames = renders.copy()
    frames[:, :4, :4] = 0.9  # the model repainted a covered corner
    req = GenerationRequest(renders[0], cams, renders, rdepth, masks)
    d, trust = render_anchored_depth(frames, req)
    assert np.all(d[:, 4:, :12] == 2.0) and np.all(trust[:, 4:, :12] == 1.0)  # the render's own depth
    # the holes and the repainted corner take the far side of their edge and are trusted as fills
    assert np.all(d[:, 4:, 12:] == 2.0) and np.all(d[:, :4, :4] == 2.0)
    assert np.all(trust[:, :4, :4] < 1.0) and np.all(trust[:, 4:, 12:] <= 0.5)


def test_holes_only_correction_keeps_the_covered_render():
    """x_correct="holes": wherever the render covers a latent pixel fully, x̂0 is the base whatever the
    network outputs; in the holes the network's output is added."""
    with one_thread():
        m = _small_v2()
        m.config.x_correct = "holes"
        video, render, hole = _scene()
        cond = Conditioning(*m.image_condition(video[:, :, 0], 5))
        m.add_render_base(cond, render, hole, video[:, :, 0])
        noise = torch.randn(cond.base.shape, generator=torch.Generator().manual_seed(4))
        x = add_noise(cond.base, noise, torch.tensor([0.6]))
        x0 = x - 0.6 * m(x, torch.tensor([600.0]), cond).sample
        covered, holes = cond.cond_mask[:, :1] == 1, cond.cond_mask[:, :1] == 0
        d = (x0 - cond.base).abs()
        assert d[covered.expand_as(d)].max() < 1e-4 and d[holes.expand_as(d)].mean() > 1e-3
