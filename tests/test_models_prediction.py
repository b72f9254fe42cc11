"""x-prediction (JiT): the backbone's output is the clean latent, ``forward`` still returns the velocity."""

import json

import pytest
import torch
from models_synth import one_thread

from worldstereo.models import Conditioning, ModelConfig, WorldStereoModel, add_noise, get_config, velocity_from_x


def _model(prediction: str) -> WorldStereoModel:
    torch.manual_seed(0)
    cfg = get_config("tiny")
    cfg.prediction = prediction
    cfg.camera.enabled = cfg.ssm.enabled = cfg.pose.enabled = False
    return WorldStereoModel(cfg).eval()


def _inputs(model: WorldStereoModel, sigma: float, frames: int = 5):
    g = torch.Generator().manual_seed(1)
    video = torch.rand(1, 3, frames, 64, 64, generator=g)
    x0 = model.codec.encode(video)
    noise = torch.randn(x0.shape, generator=g)
    s = torch.tensor([sigma])
    return x0, noise, add_noise(x0, noise, s), s * 1000, Conditioning(*model.image_condition(video[:, :, 0], frames))


def test_velocity_from_x_matches_the_flow_matching_velocity():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 3, 2, 2, generator=g), torch.randn(2, 4, 3, 2, 2, generator=g)
    sigma = torch.tensor([0.3, 0.9])
    v = velocity_from_x(add_noise(x0, eps, sigma), x0, sigma)
    torch.testing.assert_close(v, eps - x0, rtol=1e-5, atol=1e-5)
    # below σ_min the divisor is floored, so a wrong x̂0 cannot blow the velocity up
    small = torch.tensor([0.001, 0.001])
    v_small = velocity_from_x(add_noise(x0, eps, small), torch.zeros_like(x0), small, sigma_min=0.05)
    torch.testing.assert_close(v_small, add_noise(x0, eps, small) / 0.05)


@pytest.mark.parametrize("sigma", [0.2, 0.7])
def test_x_prediction_model_returns_the_velocity_of_its_clean_estimate(sigma):
    with one_thread():
        model = _model("x")
        _, _, xt, t, cond = _inputs(model, sigma)
        with torch.no_grad():
            v = model(xt, t, cond).sample
            state = model.backbone.embed(xt, t, cond.cond_latent, cond.cond_mask)
            raw = model.backbone.project_out(model.backbone.run_blocks(state)[0], state)
        torch.testing.assert_close(v, (xt - raw) / sigma, rtol=1e-4, atol=1e-4)
        velocity_model = _model("velocity")
        with torch.no_grad():
            torch.testing.assert_close(velocity_model(xt, t, cond).sample, raw)  # same weights, raw output


def test_x_prediction_overfits_one_clip_and_recovers_it():
    """A fixed clip and noise, four σ: the velocity loss through the x-parameterisation falls >= 90 %."""
    with one_thread():
        model = _model("x").train()
        x0, noise, _, _, cond = _inputs(model, 0.5, frames=3)
        sigmas = torch.tensor([0.2, 0.4, 0.6, 0.8])
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        losses = []
        for step in range(300):
            s = sigmas[step % 4:step % 4 + 1]
            v = model(add_noise(x0, noise, s), s * 1000, cond).sample
            loss = ((v - (noise - x0))[:, :, 1:] ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if step >= 7 and sum(losses[-4:]) <= 0.1 * sum(losses[:4]):
                break
        assert sum(losses[-4:]) <= 0.1 * sum(losses[:4]), (losses[:4], losses[-4:], len(losses))


def test_prediction_is_saved_and_checked(tmp_path):
    model = _model("x")
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["prediction"] == "x"
    assert WorldStereoModel.from_pretrained(tmp_path / "m").config.prediction == "x"
    # configs written before the option existed mean velocity (the shipped weights)
    d = get_config("tiny").to_dict()
    del d["prediction"], d["x_sigma_min"]
    assert ModelConfig.from_dict(d).prediction == "velocity"
    with pytest.raises(ValueError, match="prediction"):
        ModelConfig.from_dict({**d, "prediction": "eps"})


def test_tiny_v2_shapes_at_128px_13_frames():
    """tiny-v2: 128×128, 13 frames -> 192×13×16×16 latents, 8×8 tokens per frame, velocity of the same shape."""
    from worldstereo.training import load_train_config

    with one_thread():
        torch.manual_seed(0)
        model = WorldStereoModel.from_config("tiny-v2").eval()
        c = model.config
        assert (c.height, c.width, c.num_frames, c.prediction) == (128, 128, 13, "x")
        video = torch.rand(1, 3, 13, 128, 128)
        x0 = model.codec.encode(video)
        assert x0.shape == (1, 192, 13, 16, 16)
        cond = Conditioning(*model.image_condition(video[:, :, 0], 13))
        with torch.no_grad():
            state = model.backbone.embed(x0, torch.tensor([500.0]), cond.cond_latent, cond.cond_mask)
            assert state.tokens.shape[1] == 13 * 8 * 8
            assert model(x0, torch.tensor([500.0]), cond).sample.shape == x0.shape
    preset = load_train_config("tiny-cpu")
    assert preset.model == "tiny-v2" and preset.data.size == 128
