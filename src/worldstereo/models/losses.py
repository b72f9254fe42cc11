"""Training losses: flow matching, DMD generator and fake-score losses (DMD2 form), JOG3R ``L_rec``.

Velocity callables here take ``(x_σ, timestep) -> v`` with timestep = 1000·σ (B,); CFG for the real
score is bound by the caller (``schedulers.guided_velocity``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .pose_head import PointmapPrediction
from .schedulers import add_noise

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bcast(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def flow_matching_loss(pred_velocity: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error to the flow-matching target ``ε - x0``; ``mask`` (broadcastable) weights elements.

    In I2V training the first latent frame is given, so callers pass a mask that excludes it.
    """
    err = (pred_velocity.float() - (noise - x0).float()) ** 2
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype).expand_as(err)
    return (err * mask).sum() / mask.sum().clamp_min(1)


def dmd_generator_loss(x0: torch.Tensor, real_score: ScoreFn, fake_score: ScoreFn, sigma: torch.Tensor,
                       noise: torch.Tensor, num_train_timesteps: int = 1000) -> torch.Tensor:
    """DMD loss of Eq. 3 in DMD2's form: its gradient w.r.t. x0 is ∝ (x̂0_fake - x̂0_real) / mean|x0 - x̂0_real|.

    x0: (B, ...) generator output (with gradient); the real score (frozen, CFG inside) and the fake score
    are evaluated at ``x_σ = (1 - σ) x0 + σ ε`` without gradient and turned into x0 predictions
    ``x_σ - σ v``. The target ``x0 - grad`` is stop-gradient, so descending this loss moves x0 along
    ``-(x̂0_fake - x̂0_real)``: towards the real distribution and away from the generator's own.
    """
    with torch.no_grad():
        xt = add_noise(x0.detach(), noise, sigma)
        t = sigma.to(x0.dtype) * num_train_timesteps
        s = _bcast(sigma, x0)
        x0_real = xt - s * real_score(xt, t)
        x0_fake = xt - s * fake_score(xt, t)
        dims = tuple(range(1, x0.ndim))
        normaliser = (x0.detach() - x0_real).abs().mean(dim=dims, keepdim=True).clamp_min(1e-6)
        grad = torch.nan_to_num((x0_fake - x0_real) / normaliser)
        target = x0.detach() - grad
    return 0.5 * F.mse_loss(x0.float(), target.float())


def fake_score_loss(fake_score: ScoreFn, x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor,
                    num_train_timesteps: int = 1000) -> torch.Tensor:
    """Denoising (flow-matching) loss of the fake score on generator samples ``x0`` (detached)."""
    x0 = x0.detach()
    xt = add_noise(x0, noise, sigma)
    return flow_matching_loss(fake_score(xt, sigma.to(x0.dtype) * num_train_timesteps), x0, noise)


def _scale(points: list[torch.Tensor], valid: torch.Tensor | None) -> torch.Tensor:
    """Mean distance to the origin over all given (B, P, 3, H, W) maps' valid pixels: (B, P, 1, 1, 1)."""
    norms = torch.stack([p.norm(dim=2) for p in points], 0)  # (M, B, P, H, W)
    if valid is None:
        return norms.mean(dim=(0, 3, 4))[..., None, None, None].clamp_min(1e-8)
    v = valid.to(norms.dtype).expand_as(norms)
    return ((norms * v).sum(dim=(0, 3, 4)) / v.sum(dim=(0, 3, 4)).clamp_min(1))[..., None, None, None].clamp_min(1e-8)


def pointmap_loss(pred: PointmapPrediction, X11: torch.Tensor, Xf1: torch.Tensor, Xff: torch.Tensor,
                  valid: torch.Tensor | None = None, alpha: float = 0.2) -> torch.Tensor:
    """JOG3R ``L_rec = Σ C·‖X/s - X̄/s̄‖ - α log C``, averaged over pixels and the three pointmaps.

    Ground truth X11, Xf1, Xff: (B, P, 3, H, W) on the prediction's grid; valid: (B, P, H, W) bool
    (frame f's validity; frame 0's map uses it too, pass None when everything is valid). Scales s, s̄ are the
    mean point norms per pair, shared by X11 and Xf1 (both in frame 0's coordinates), separate for Xff.
    """
    if X11.shape != pred.X11.shape or Xf1.shape != pred.Xf1.shape or Xff.shape != pred.Xff.shape:
        raise ValueError(f"pointmap_loss: ground truth {tuple(X11.shape)} must match the prediction "
                         f"{tuple(pred.X11.shape)} (resample it to the head's output grid)")
    s_pred, s_gt = _scale([pred.X11, pred.Xf1], valid), _scale([X11, Xf1], valid)
    s_pred_own, s_gt_own = _scale([pred.Xff], valid), _scale([Xff], valid)
    terms = []
    for x, gt, c, sp, sg in ((pred.X11, X11, pred.C11, s_pred, s_gt), (pred.Xf1, Xf1, pred.Cf1, s_pred, s_gt),
                             (pred.Xff, Xff, pred.Cff, s_pred_own, s_gt_own)):
        err = (x / sp - gt / sg).norm(dim=2)
        per_pixel = c * err - alpha * torch.log(c)
        if valid is None:
            terms.append(per_pixel.mean())
        else:
            v = valid.to(per_pixel.dtype)
            terms.append((per_pixel * v).sum() / v.sum().clamp_min(1))
    return sum(terms) / len(terms)
