"""Flow-matching samplers and losses: conventions, call counts, and DMD gradient signs on a 1-D Gaussian toy."""

import pytest
import torch
from models_synth import one_thread

from worldstereo.models import (WorldStereoModel, dmd_generator_loss, dmd_rollout, dmd_sigmas, euler_sigmas,
                                fake_score_loss, sample_dmd, sample_euler, sample_unipc, shift_sigma)


def gaussian_velocity(mu: float, std: float):
    """Exact flow-matching velocity E[ε - x0 | x_σ] for data N(mu, std²) (x_σ = (1-σ) x0 + σ ε)."""

    def v(x: torch.Tensor, timestep: torch.Tensor, uncond: bool = False) -> torch.Tensor:
        s = (timestep / 1000).reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        a = 1 - s
        x0_hat = mu + a * std**2 / (a**2 * std**2 + s**2) * (x - a * mu)
        return (x - x0_hat) / s.clamp_min(1e-6)

    return v


def test_convention_wan_shift_and_dmd_grid():
    assert float(shift_sigma(0.5, 5.0)) == pytest.approx(5 * 0.5 / (1 + 4 * 0.5))
    assert float(shift_sigma(0.3, 1.0)) == pytest.approx(0.3)
    grid = dmd_sigmas(4, 5.0, t_start=250.0)
    t = torch.tensor([1000.0, 750.0, 500.0, 250.0], dtype=torch.float64) / 1000
    assert torch.allclose(grid, torch.cat([5 * t / (1 + 4 * t), torch.zeros(1, dtype=torch.float64)]))
    e = euler_sigmas(40, 5.0)
    assert e[0] == 1.0 and e[-1] == 0.0 and bool((e[1:] < e[:-1]).all())


def test_euler_sampler_transports_noise_to_the_data_distribution():
    noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))
    x = sample_euler(gaussian_velocity(2.0, 0.5), noise, steps=60, guidance_scale=1.0, shift=3.0)
    assert float(x.mean()) == pytest.approx(2.0, abs=0.03)
    assert float(x.std()) == pytest.approx(0.5, abs=0.03)


def test_unipc_sampler_reaches_the_gaussian_and_beats_euler_at_equal_steps():
    noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(1))
    v = gaussian_velocity(-1.0, 0.3)
    x = sample_unipc(v, noise, steps=60, guidance_scale=1.0, shift=3.0)
    assert float(x.mean()) == pytest.approx(-1.0, abs=0.01)
    assert float(x.std()) == pytest.approx(0.3, abs=0.01)
    unipc = float(sample_unipc(v, noise, steps=20, guidance_scale=1.0, shift=3.0).std())
    euler = float(sample_euler(v, noise, steps=20, guidance_scale=1.0, shift=3.0).std())
    assert abs(unipc - 0.3) < abs(euler - 0.3)  # a higher-order solver on a stiff end of the trajectory


def _counting_model():
    torch.manual_seed(0)
    cfg = WorldStereoModel.from_config("tiny").config
    cfg.camera.enabled = cfg.ssm.enabled = cfg.pose.enabled = False
    cfg.backbone.num_layers = 1  # counting passes, not judging quality
    model = WorldStereoModel(cfg).eval()
    calls = []
    model.backbone.transformer.patch_embedding.register_forward_hook(lambda *a: calls.append(1))
    return model, calls


def test_sampler_forward_pass_counts():
    from worldstereo.models import Conditioning

    model, calls = _counting_model()
    cond = Conditioning(*model.image_condition(torch.rand(1, 3, 64, 64), 2))
    noise = torch.randn(1, 48, 2, 16, 16)
    with one_thread():
        model.generate(cond, noise, sampler="euler")  # defaults: 40 steps, CFG 5.0
        assert len(calls) == 80
        calls.clear()
        model.generate(cond, noise, sampler="euler", steps=5, guidance_scale=1.0)
        assert len(calls) == 5
        calls.clear()
        out = model.generate(cond, noise, sampler="dmd")
    assert len(calls) == 4
    assert torch.isfinite(out).all()


def test_dmd_sampler_matches_its_sigma_grid():
    x = sample_dmd(gaussian_velocity(1.0, 1e-3), torch.randn(1000, 1), steps=4, shift=5.0)
    assert float((x - 1.0).abs().max()) < 1e-2  # a point mass is reached exactly by Euler on its own velocity


def _dmd_grad(theta_value: float, real_mu: float, fake_mu: float) -> float:
    theta = torch.tensor(theta_value, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    x0 = (theta + torch.randn(4096, 1, generator=g))
    sigma = torch.rand(4096, generator=g) * 0.8 + 0.1
    loss = dmd_generator_loss(x0, lambda x, t: gaussian_velocity(real_mu, 1.0)(x, t),
                              lambda x, t: gaussian_velocity(fake_mu, 1.0)(x, t), sigma,
                              torch.randn(4096, 1, generator=g))
    loss.backward()
    return float(theta.grad)


def test_dmd_generator_loss_pushes_the_generator_towards_the_real_distribution():
    assert _dmd_grad(0.0, real_mu=2.0, fake_mu=0.0) < 0  # descent increases θ towards 2
    assert _dmd_grad(0.0, real_mu=-2.0, fake_mu=0.0) > 0
    assert _dmd_grad(0.0, real_mu=0.0, fake_mu=0.0) == pytest.approx(0.0, abs=1e-7)
    theta = torch.tensor(0.0, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=0.5)
    g = torch.Generator().manual_seed(1)
    for _ in range(60):
        x0 = theta + torch.randn(512, 1, generator=g)
        fake = float(theta.detach())  # the fake score tracks the generator exactly in this toy
        loss = dmd_generator_loss(x0, lambda x, t: gaussian_velocity(1.5, 1.0)(x, t),
                                  lambda x, t, m=fake: gaussian_velocity(m, 1.0)(x, t),
                                  torch.rand(512, generator=g) * 0.8 + 0.1, torch.randn(512, 1, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(theta.detach()) == pytest.approx(1.5, abs=0.15)


def test_fake_score_loss_is_lowest_for_the_generators_own_score():
    g = torch.Generator().manual_seed(0)
    x0 = 0.7 + torch.randn(8192, 1, generator=g)
    noise = torch.randn(8192, 1, generator=g)
    sigma = torch.rand(8192, generator=g) * 0.9 + 0.05
    own = fake_score_loss(lambda x, t: gaussian_velocity(0.7, 1.0)(x, t), x0, noise, sigma)
    off = fake_score_loss(lambda x, t: gaussian_velocity(-0.5, 1.0)(x, t), x0, noise, sigma)
    assert float(own) < float(off)


def test_dmd_rollout_keeps_gradient_only_at_the_exit_step():
    w = torch.tensor(0.5, requires_grad=True)
    calls = []

    def model(x, t, uncond):
        calls.append(torch.is_grad_enabled())
        return w * x

    out = dmd_rollout(model, torch.randn(3, 2), exit_step=2, steps=4)
    assert calls == [False, False, True]
    out.sum().backward()
    assert w.grad is not None


def test_model_scores_plug_into_the_dmd_losses():
    """Teacher (CFG 5) as the real score and the same network as the fake score: the losses run on model tensors,
    and identical real and fake scores give no generator gradient."""
    from worldstereo.models import Conditioning

    model, calls = _counting_model()
    cond = Conditioning(*model.image_condition(torch.rand(1, 3, 64, 64), 2))
    x0 = torch.randn(1, 48, 2, 16, 16, requires_grad=True)
    noise, sigma = torch.randn(1, 48, 2, 16, 16), torch.tensor([0.5])
    with one_thread():
        same = dmd_generator_loss(x0, model.score_fn(cond, 5.0), model.score_fn(cond, 5.0), sigma, noise)
        same.backward()
        assert len(calls) == 4  # two CFG passes for each score
        assert float(x0.grad.abs().max()) == 0.0
        fake = fake_score_loss(model.score_fn(cond), x0, noise, sigma)
        fake.backward()
    assert model.backbone.transformer.proj_out.weight.grad is not None
