"""Image quality: PSNR, SSIM (torch; identical to scikit-image's Gaussian SSIM), masked variants,
and gradient energy (a sharpness figure: noise scores far above a natural image, a blur far below).

Images are float in [0, 1], (H, W, C) or (F, H, W, C), numpy or torch. Masks are (H, W) or (F, H, W)
booleans selecting the pixels to score (e.g. visible vs. disoccluded regions from the GGM hole mask).
LPIPS lives in ``lpips.py`` and needs locally supplied weights.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scikit-image/scipy default: an 11 x 11 window at sigma 1.5
K1, K2 = 0.01, 0.03


def _as_batch(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"{name}: expected (H, W, C) or (F, H, W, C), got shape {tuple(t.shape)}")
    return t


def _mask(mask: Optional[Any], shape: tuple[int, ...]) -> Optional[torch.Tensor]:
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).bool()
    if m.ndim == 2:
        m = m[None]
    if tuple(m.shape) != shape[:3]:
        raise ValueError(f"mask: shape {tuple(m.shape)} does not match images {shape[:3]}")
    return m


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_batch(a, "image a"), _as_batch(b, "image b")
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    return x, y


def psnr(a: Any, b: Any, mask: Optional[Any] = None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all frames (or the masked pixels); inf if identical."""
    x, y = _pair(a, b)
    err = (x - y) ** 2
    m = _mask(mask, tuple(x.shape))
    if m is not None:
        if not m.any():
            return float("nan")
        mse = err[m].mean()
    else:
        mse = err.mean()
    return float("inf") if mse == 0 else float(10 * torch.log10(data_range**2 / mse))


def _gaussian_window(sigma: float, truncate: float) -> torch.Tensor:
    r = int(truncate * sigma + 0.5)
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float64) ** 2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(a: Any, b: Any, data_range: float = 1.0) -> torch.Tensor:
    """(F, H - 2r, W - 2r) SSIM per pixel (channel mean), over the pixels a full window covers.

    Same statistics as ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``, which also discards the border r = 5 pixels. The separable
    Gaussian runs through scipy's ``correlate1d`` in float64: exact, and about 3x faster on a CPU
    than torch's grouped convolutions for these thin kernels.
    """
    from scipy.ndimage import correlate1d

    x, y = (t.numpy() for t in _pair(a, b))
    g = _gaussian_window(SSIM_SIGMA, SSIM_TRUNCATE).numpy()
    r = len(g) // 2
    if min(x.shape[1:3]) <= 2 * r:
        raise ValueError(f"ssim: images must be larger than {2 * r + 1} pixels on each side")

    def blur(t: np.ndarray) -> np.ndarray:
        t = correlate1d(correlate1d(t, g, axis=1, mode="constant"), g, axis=2, mode="constant")
        return t[:, r:-r, r:-r]  # only windows fully inside the image, as skimage keeps

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return torch.from_numpy(s.mean(-1))


def _masked_mean(s: torch.Tensor, m: Optional[torch.Tensor]) -> float:
    """Mean of an SSIM map over the mask cropped to the map's valid region."""
    if m is None:
        return float(s.mean())
    r = (m.shape[1] - s.shape[1]) // 2
    m = m[:, r:m.shape[1] - r, r:m.shape[2] - r]
    return float(s[m].mean()) if m.any() else float("nan")


def ssim(a: Any, b: Any, mask: Optional[Any] = None, data_range: float = 1.0) -> float:
    """Mean SSIM over frames (Gaussian window, sigma 1.5); with ``mask``, over the masked pixels
    whose window lies inside the image."""
    s = ssim_map(a, b, data_range)
    x, _ = _pair(a, b)
    return _masked_mean(s, _mask(mask, tuple(x.shape)))


def masked_scores(a: Any, b: Any, hole_mask: Any) -> dict[str, float]:
    """PSNR and SSIM on all pixels, on pixels the 3D cache covered (visible) and on its holes
    (disoccluded: ``hole_mask`` true), for judging what a generator invents vs. what it copies."""
    hole = np.asarray(hole_mask if not isinstance(hole_mask, torch.Tensor) else hole_mask.cpu()).astype(bool)
    x, _ = _pair(a, b)
    m = _mask(hole, tuple(x.shape))
    s = ssim_map(a, b)  # once: the three SSIM figures are means of one map over three regions
    return {
        "psnr": psnr(a, b), "ssim": _masked_mean(s, None),
        "psnr_visible": psnr(a, b, ~hole), "ssim_visible": _masked_mean(s, ~m),
        "psnr_disoccluded": psnr(a, b, hole), "ssim_disoccluded": _masked_mean(s, m),
        "disoccluded_share": float(hole.mean()),
    }


def gradient_energy(images: Any) -> float:
    """Mean squared image gradient: the mean over frames, channels and neighbouring pixel pairs of
    ``(I[y, x+1] - I[y, x])**2`` plus the same mean of ``(I[y+1, x] - I[y, x])**2``.

    A constant image gives 0 and a ramp ``I = a*x + b*y`` gives ``a**2 + b**2``. As a ratio of
    generated to true frames it says whether frames have the truth's sharpness: per-pixel noise
    makes it far larger than 1, a blur far smaller.
    """
    x = _as_batch(images, "images")
    if x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"gradient_energy: images need at least 2 x 2 pixels, got {tuple(x.shape[1:3])}")
    dx = x[:, :, 1:] - x[:, :, :-1]
    dy = x[:, 1:] - x[:, :-1]
    return float((dx**2).mean() + (dy**2).mean())
