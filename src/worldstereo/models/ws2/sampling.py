"""The two released samplers of the ws2 family, as loops over a velocity function.

- DMD (memory-dmd): a few Euler steps on a fixed, shifted grid, no guidance. The grid is computed in float32
  exactly as released: t = linspace(start, end, steps) reversed / end, shifted g·t / (1 + (g-1)·t); the model
  sees t·end (a float); x += (σ_next - σ)·v with σ = t, σ_last_next = 0.
- UniPC (camera, memory): diffusers' ``UniPCMultistepScheduler`` from the base model's config, on the flow
  sigma grid of the diffusers release the authors pinned (0.36): unshifted σ = 1 - linspace(1, 1/N, n+1),
  flipped, the last dropped, so σ_max = shift(0.999) = 0.99967 at shift 3. Newer diffusers start at 1 - 1e-6
  and so give other integer timesteps (3 steps: 999, 857, 600 instead of 999, 856, 599); the grid is passed
  explicitly so that any diffusers reproduces the released one. The model sees the scheduler's **integer**
  timesteps; classifier-free guidance takes two calls per step, only the text embedding differing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]
"""(latents [B, 16, F, h, w], timestep [B], conditional) -> velocity [B, 16, F, h, w]"""


def dmd_timesteps(start: int, end: int, steps: int, shift: float) -> torch.Tensor:
    """Model timesteps of the DMD generator, float32, decreasing from ``end``."""
    t = torch.tensor(np.linspace(start, end, steps, dtype=np.float32)[::-1].copy(), dtype=torch.float32) / end
    return shift * t / (1 + (shift - 1) * t) * end


def sample_dmd(velocity: VelocityFn, latents: torch.Tensor, timesteps: torch.Tensor, end: int) -> torch.Tensor:
    """Run the whole DMD schedule from noise ``latents`` (kept in float32 between steps)."""
    x = latents.float()
    for i, t in enumerate(timesteps):
        v = velocity(x, t.expand(x.shape[0]), True)
        sigma = t.float() / end
        sigma_next = timesteps[i + 1].float() / end if i + 1 < len(timesteps) else 0.0
        x = x + (sigma_next - sigma) * v
    return x


def released_flow_sigmas(steps: int, train_steps: int = 1000) -> np.ndarray:
    """The unshifted flow sigmas of diffusers 0.36's UniPC (the scheduler applies the shift)."""
    grid = 1.0 - np.linspace(1, 1 / train_steps, steps + 1)
    return np.flip(grid)[:-1].copy()


def sample_unipc(velocity: VelocityFn, latents: torch.Tensor, scheduler, steps: int,
                 guidance: float) -> torch.Tensor:
    """Run ``steps`` UniPC steps with classifier-free guidance (none when ``guidance <= 1``)."""
    if not scheduler.config.get("use_flow_sigmas", False):
        raise ValueError("the ws2 UniPC sampler needs a scheduler config with use_flow_sigmas=true (the Wan2.1 "
                         "Diffusers export has it): check <base-model>/scheduler/scheduler_config.json")
    scheduler.set_timesteps(sigmas=released_flow_sigmas(steps, scheduler.config.num_train_timesteps),
                            device=latents.device)
    x = latents
    for t in scheduler.timesteps:
        ts = t.expand(x.shape[0])
        v = velocity(x, ts, True)
        if guidance > 1.0:
            v_uncond = velocity(x, ts, False)
            v = v_uncond + guidance * (v - v_uncond)
        x = scheduler.step(v, t, x, return_dict=False)[0]
    return x
