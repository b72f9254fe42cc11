"""Flow matching with Wan's timestep shift, the teacher sampler (Euler or UniPC, with CFG) and the DMD sampler.

Convention: ``x_σ = (1 - σ)·x0 + σ·ε``, the model predicts the velocity ``v = ε - x0`` and is given
the timestep ``1000·σ``. Wan's shift maps a uniform σ to ``s·σ / (1 + (s - 1)·σ)``.

A model is any callable ``model(x, timestep, uncond) -> v`` (x (B, C, F, H, W), timestep (B,));
``WorldStereoModel.velocity_fn`` builds one with all conditions bound. Samplers count nothing
themselves: the tests wrap the callable to count its calls.
"""

from __future__ import annotations

from typing import Callable

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def shift_sigma(sigma: torch.Tensor | float, shift: float) -> torch.Tensor:
    """Wan's timestep shift ``s·σ / (1 + (s - 1)·σ)`` (identity for s = 1)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return shift * sigma / (1 + (shift - 1) * sigma)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_σ = (1 - σ) x0 + σ ε, σ (B,) broadcast over (B, C, F, H, W)."""
    s = sigma.to(x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))
    return (1 - s) * x0 + s * noise


def velocity_from_x(x_sigma: torch.Tensor, x0_pred: torch.Tensor, sigma: torch.Tensor,
                    sigma_min: float = 0.05) -> torch.Tensor:
    """Velocity of an x-prediction: ``v = (x_σ - x̂0) / max(σ, σ_min)`` (from x_σ = x0 + σ (ε - x0)).

    x_sigma, x0_pred: (B, C, F, H, W); sigma: (B,) or a scalar. The floor keeps the velocity (and the
    velocity loss's weight on x̂0, 1/σ²) bounded near σ = 0.
    """
    s = torch.as_tensor(sigma, device=x_sigma.device).to(x_sigma.dtype).clamp_min(sigma_min)
    s = s.reshape(-1, *([1] * (x_sigma.ndim - 1))) if s.ndim else s
    return (x_sigma - x0_pred) / s


def sample_training_sigma(batch: int, shift: float, generator: torch.Generator | None = None,
                          device: torch.device | str | None = None) -> torch.Tensor:
    """σ for a training batch: uniform, then shifted like the sampling grid (B,)."""
    u = torch.rand(batch, generator=generator, dtype=torch.float64)
    return shift_sigma(u, shift).float().to(device)


def euler_sigmas(steps: int, shift: float) -> torch.Tensor:
    """σ grid of the multi-step Euler sampler: linspace(1, 0, steps + 1) shifted ((steps + 1,), float64)."""
    if steps < 1:
        raise ValueError(f"number of sampling steps must be >= 1, got {steps}")
    return shift_sigma(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


def dmd_sigmas(steps: int, shift: float, t_start: float = 250.0, num_train_timesteps: int = 1000) -> torch.Tensor:
    """DMD generator grid: t = linspace(t_start, 1000, steps) reversed, shifted, then σ = 0 ((steps + 1,))."""
    if steps < 1 or not 0 < t_start <= num_train_timesteps:
        raise ValueError(f"DMD needs steps >= 1 and 0 < t_start <= {num_train_timesteps}, got {steps}, {t_start}")
    t = torch.linspace(t_start, num_train_timesteps, steps, dtype=torch.float64).flip(0) / num_train_timesteps
    return torch.cat([shift_sigma(t, shift), torch.zeros(1, dtype=torch.float64)])


def guided_velocity(model: VelocityFn, x: torch.Tensor, timestep: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance ``v_u + g (v_c - v_u)``: two model passes (one when g == 1)."""
    v_c = model(x, timestep, False)
    if guidance_scale == 1.0:
        return v_c
    v_u = model(x, timestep, True)
    return v_u + guidance_scale * (v_c - v_u)


def _timestep(sigma: torch.Tensor, x: torch.Tensor, num_train_timesteps: int) -> torch.Tensor:
    return (sigma * num_train_timesteps).to(x.dtype).expand(x.shape[0]).to(x.device)


@torch.no_grad()
def sample_euler(model: VelocityFn, noise: torch.Tensor, steps: int = 40, guidance_scale: float = 5.0,
                 shift: float = 5.0, num_train_timesteps: int = 1000,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Teacher sampler: multi-step Euler from pure noise (B, C, F, H, W) to σ = 0, with CFG."""
    sigmas = euler_sigmas(steps, shift)
    x = noise
    for i in range(steps):
        v = guided_velocity(model, x, _timestep(sigmas[i], x, num_train_timesteps), guidance_scale)
        x = x + float(sigmas[i + 1] - sigmas[i]) * v
        if callback is not None:
            callback(i, x)
    return x


@torch.no_grad()
def sample_unipc(model: VelocityFn, noise: torch.Tensor, steps: int = 40, guidance_scale: float = 5.0,
                 shift: float = 5.0, num_train_timesteps: int = 1000,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Teacher sampler with diffusers' UniPC in flow-prediction mode (what Wan's pipeline uses), with CFG."""
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(num_train_timesteps=num_train_timesteps, prediction_type="flow_prediction",
                                        use_flow_sigmas=True, flow_shift=shift)
    scheduler.set_timesteps(steps, device=noise.device)
    x = noise
    for i, t in enumerate(scheduler.timesteps):
        # the scheduler's integer timesteps are rounded; the model gets the exact σ it integrates at
        timestep = _timestep(scheduler.sigmas[i].double(), x, num_train_timesteps)
        v = guided_velocity(model, x, timestep, guidance_scale)
        x = scheduler.step(v, t, x, return_dict=False)[0]
        if callback is not None:
            callback(i, x)
    return x


def dmd_step(model: VelocityFn, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
             num_train_timesteps: int = 1000) -> torch.Tensor:
    """One guidance-free Euler step of the distilled generator (differentiable: used in DMD training)."""
    v = model(x, _timestep(sigma, x, num_train_timesteps), False)
    return x + float(sigma_next - sigma) * v


def sample_dmd(model: VelocityFn, noise: torch.Tensor, steps: int = 4, shift: float = 5.0, t_start: float = 250.0,
               num_train_timesteps: int = 1000,
               callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Few-step DMD generator: ``steps`` guidance-free Euler steps on the σ grid of ``dmd_sigmas``."""
    sigmas = dmd_sigmas(steps, shift, t_start, num_train_timesteps)
    x = noise
    with torch.no_grad():
        for i in range(steps):
            x = dmd_step(model, x, sigmas[i], sigmas[i + 1], num_train_timesteps)
            if callback is not None:
                callback(i, x)
    return x


def dmd_rollout(model: VelocityFn, noise: torch.Tensor, exit_step: int, steps: int = 4, shift: float = 5.0,
                t_start: float = 250.0, num_train_timesteps: int = 1000) -> torch.Tensor:
    """Generator sample for DMD training with stochastic gradient truncation.

    Runs steps ``0 .. exit_step - 1`` without gradient, then predicts x0 = x - σ v at ``exit_step``
    with gradient (the caller draws ``exit_step`` uniformly in [0, steps)).
    """
    if not 0 <= exit_step < steps:
        raise ValueError(f"exit_step must be in [0, {steps}), got {exit_step}")
    sigmas = dmd_sigmas(steps, shift, t_start, num_train_timesteps)
    x = noise
    with torch.no_grad():
        for i in range(exit_step):
            x = dmd_step(model, x, sigmas[i], sigmas[i + 1], num_train_timesteps)
    sigma = sigmas[exit_step]
    v = model(x, _timestep(sigma, x, num_train_timesteps), False)
    return x - float(sigma) * v
