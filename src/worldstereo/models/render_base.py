"""The base of a render-residual x-prediction: the Cache3D render with its holes filled, as latents.

``fill_holes`` paints the holes with OpenCV's Telea inpainting (fast marching from the hole's edge,
the fill the ``warp`` baseline uses) and keeps every covered pixel's colour exactly. A smooth fill
(pull-push) was tried first and lost up to 9 dB in large disocclusions: it averages the colours
around a hole, so a horizon across the hole becomes one grey-brown blob, while Telea carries each
edge's colour inward. The network only corrects the base: where the render is right it outputs ~0,
and in the holes it turns the fill into content.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

INPAINT_RADIUS = 5  # px, Telea's neighbourhood (the warp baseline's value)


def fill_holes(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """image (N, 3, H, W) in [0, 1], hole (N, 1, H, W) with 1 = no colour -> image with the pixels where
    hole > 0.5 painted by Telea inpainting (computed on 8 bits); covered pixels are returned unchanged.
    A frame with no covered pixel becomes mid-grey (0.5)."""
    if image.ndim != 4 or image.shape[1] != 3 or hole.shape != (image.shape[0], 1, *image.shape[2:]):
        raise ValueError(f"fill_holes: image (N, 3, H, W) and hole (N, 1, H, W), got {tuple(image.shape)} and "
                         f"{tuple(hole.shape)}")
    img = image.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    holes = hole.detach().cpu().numpy()[:, 0] > 0.5
    out = img.copy()
    for i in range(len(img)):
        if not holes[i].any():
            continue
        if holes[i].all():
            out[i] = 0.5
            continue
        u8 = (np.clip(img[i], 0, 1) * 255 + 0.5).astype(np.uint8)
        painted = cv2.inpaint(u8, holes[i].astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA)
        out[i][holes[i]] = painted[holes[i]].astype(np.float32) / 255.0
    return torch.from_numpy(out.transpose(0, 3, 1, 2)).to(image.device, image.dtype)


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
