"""The base of a render-residual x-prediction: the Cache3D render with its holes filled, as latents.

``fill_holes`` is push-pull inpainting (Gortler et al. 1996's pull-push, as used for splatted point
renders): a mask-weighted image pyramid is built down to 1 px, then every level's holes take the
upsampled colour of the level below. It is smooth, exact where the render has colour, and costs a
few pooling passes, so it runs inside the model at any scale. The network only corrects it: where
the render is right it outputs ~0, and in the holes it replaces the smooth fill with content.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fill_holes(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """image (N, C, H, W), hole (N, 1, H, W) with 1 = no colour -> image with holes filled by pull-push.

    Pixels with hole < 1 keep a (1 - hole)-weighted share of their own colour; a frame with no colour
    at all becomes mid-grey (0.5).
    """
    if image.ndim != 4 or hole.shape != (image.shape[0], 1, *image.shape[2:]):
        raise ValueError(f"fill_holes: image (N, C, H, W) and hole (N, 1, H, W), got {tuple(image.shape)} and "
                         f"{tuple(hole.shape)}")
    w = (1.0 - hole.to(image.dtype)).clamp(0, 1)
    levels = [(image * w, w)]
    while min(levels[-1][1].shape[-2:]) > 1:
        cw, ww = levels[-1]
        h2, w2 = (cw.shape[-2] + 1) // 2, (cw.shape[-1] + 1) // 2
        levels.append((F.adaptive_avg_pool2d(cw, (h2, w2)) * 4, F.adaptive_avg_pool2d(ww, (h2, w2)) * 4))
    cw, ww = levels[-1]
    filled = torch.where(ww > 1e-6, cw / ww.clamp_min(1e-6), torch.full_like(cw, 0.5))
    for cw, ww in reversed(levels[:-1]):
        up = F.interpolate(filled, size=cw.shape[-2:], mode="bilinear", align_corners=False)
        a = ww.clamp(0, 1)
        own = cw / ww.clamp_min(1e-6)
        filled = a * own + (1 - a) * up
    return filled


def render_base_frames(render: torch.Tensor, hole: torch.Tensor, first_frame: torch.Tensor | None = None) -> torch.Tensor:
    """render (B, 3, F, H, W) in [0, 1], hole (B, 1, F, H, W) -> filled frames (B, 3, F, H, W); frame 0 is
    ``first_frame`` (B, 3, H, W) when given (the I2V condition image, which the render only approximates)."""
    b, c, f, h, w = render.shape
    flat = render.transpose(1, 2).reshape(b * f, c, h, w)
    mask = hole.transpose(1, 2).reshape(b * f, 1, h, w)
    out = fill_holes(flat, mask).reshape(b, f, c, h, w).transpose(1, 2).clamp(0, 1)
    if first_frame is not None:
        out = out.clone()
        out[:, :, 0] = first_frame.to(out.dtype)
    return out
