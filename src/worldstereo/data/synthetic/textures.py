"""Textures for synthetic scenes: crops of real photographs mixed with procedural patterns.

Photographs come from ``skimage.data`` (shipped offline), so rendered frames carry real-world
image statistics and enough texture for feature matching; procedural patterns (checker, noise,
stripes, gradients, tinted material scans) add variety. Every texture is a deterministic function
of the ``numpy.random.Generator`` it is given.

Textures are (S, S, 3) float32 in [0, 1]; row 0 is texture coordinate v = 0 and column 0 is
u = 0, and lookups wrap (repeat) outside [0, 1).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TEXTURE_SIZE = 256

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
MATERIAL_SCANS = ("brick", "grass", "gravel")
PATTERNS = ("photo", "material", "checker", "noise", "stripes", "gradient")


@lru_cache(maxsize=None)
def _skimage_image(name: str) -> np.ndarray:
    """A ``skimage.data`` image as float32 (H, W, 3) in [0, 1] (grey images are replicated)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    img = img.astype(np.float32) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img.setflags(write=False)
    return img


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random, moderately saturated RGB colour."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(60, 220), rng.uniform(90, 250)]]], dtype=np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _noise(rng: np.random.Generator, size: int, octaves: int = 5, base: int = 4, persistence: float = 0.55) -> np.ndarray:
    """Fractal value noise (size, size) in [0, 1]: octaves of upsampled random grids."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2**o
        grid = rng.random((cells, cells), dtype=np.float32)
        out += amp * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-6)


def _photo(rng: np.random.Generator, size: int) -> np.ndarray:
    img = _skimage_image(PHOTOS[rng.integers(len(PHOTOS))])
    h, w = img.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop


def _material(rng: np.random.Generator, size: int) -> np.ndarray:
    grey = _skimage_image(MATERIAL_SCANS[rng.integers(len(MATERIAL_SCANS))])[..., 0]
    side = int(rng.integers(grey.shape[0] // 3, grey.shape[0] + 1))
    y, x = (int(rng.integers(0, n - side + 1)) for n in grey.shape)
    grey = cv2.resize(grey[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    tint = _colour(rng)
    return np.clip(grey[..., None] * (0.4 + 0.9 * tint), 0.0, 1.0)


def _checker(rng: np.random.Generator, size: int) -> np.ndarray:
    n = int(rng.integers(3, 12))
    i, j = np.indices((size, size))
    cells = ((i * n // size) + (j * n // size)) % 2
    a, b = _colour(rng), _colour(rng)
    img = np.where(cells[..., None] == 1, a, b)
    return np.clip(img * (0.85 + 0.3 * _noise(rng, size)[..., None]), 0.0, 1.0)


def _noise_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    # persistent high octaves give the fine grain that feature matchers need (like real stone or plaster)
    n = _noise(rng, size, octaves=5, base=int(rng.integers(4, 9)), persistence=0.8)[..., None]
    a, b, c = _colour(rng), _colour(rng), _colour(rng)
    return np.where(n < 0.5, a + (b - a) * (2 * n), b + (c - b) * (2 * n - 1)).astype(np.float32)


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 14)
    i, j = np.indices((size, size), dtype=np.float32) / size
    phase = np.cos(angle) * j + np.sin(angle) * i
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * phase + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        wave = (wave > 0.5).astype(np.float32)
    a, b = _colour(rng), _colour(rng)
    img = a + (b - a) * wave[..., None]
    return np.clip(img * (0.8 + 0.4 * _noise(rng, size)[..., None]), 0.0, 1.0)


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    i, j = np.indices((size, size), dtype=np.float32) / size
    ramp = np.clip(0.5 + (np.cos(angle) * (j - 0.5) + np.sin(angle) * (i - 0.5)), 0, 1)
    a, b = _colour(rng), _colour(rng)
    # A bare gradient has no features to match; speckle keeps it realistic but matchable.
    speckle = _noise(rng, size, octaves=4, base=16)[..., None]
    return np.clip((a + (b - a) * ramp[..., None]) * (0.75 + 0.5 * speckle), 0.0, 1.0)


_MAKERS = {
    "photo": _photo,
    "material": _material,
    "checker": _checker,
    "noise": _noise_texture,
    "stripes": _stripes,
    "gradient": _gradient,
}


def make_texture(rng: np.random.Generator, pattern: str | None = None, size: int = TEXTURE_SIZE) -> np.ndarray:
    """One (size, size, 3) float32 texture; ``pattern`` in :data:`PATTERNS` or None to draw one.

    Photographs are drawn half of the time so that most surfaces carry real-image statistics.
    """
    if pattern is None:
        pattern = "photo" if rng.random() < 0.5 else PATTERNS[1 + int(rng.integers(len(PATTERNS) - 1))]
    if pattern not in _MAKERS:
        raise ValueError(f"make_texture: pattern {pattern!r} is not one of {PATTERNS}")
    return np.ascontiguousarray(_MAKERS[pattern](rng, size), dtype=np.float32)


def sky_texture(rng: np.random.Generator, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A sky for a dome mapped by elevation: v = 0 at the zenith, v = 1 at the horizon.

    Blue fading to a pale horizon with fractal clouds, so that the sky is not textureless.
    """
    v = (np.arange(size, dtype=np.float32) + 0.5)[:, None, None] / size
    zenith = np.array([0.20, 0.40, 0.80], np.float32) + rng.uniform(-0.08, 0.08, 3).astype(np.float32)
    horizon = np.array([0.80, 0.86, 0.93], np.float32)
    base = zenith + (horizon - zenith) * v**0.7
    clouds = np.clip((_noise(rng, size, octaves=6, base=3) - rng.uniform(0.4, 0.6)) * 2.5, 0, 1)[..., None]
    return np.clip(base * (1 - clouds) + clouds * 0.97, 0.0, 1.0).astype(np.float32)


def sample_textures(textures: np.ndarray, texture_ids: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear, wrapping lookup of (P,) texture ids at (P, 2) coordinates (u, v) -> (P, 3) float32.

    ``textures`` is (M, S, S, 3). Texel (row r, col c) has its centre at ((c + 0.5)/S, (r + 0.5)/S).
    Plain numpy; the reference for :class:`TextureAtlas`, which is what the renderer uses.
    """
    _, S, _, _ = textures.shape
    flat = textures.reshape(-1, 3)
    x = uv[:, 0].astype(np.float64) * S - 0.5
    y = uv[:, 1].astype(np.float64) * S - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32)[:, None], (y - y0).astype(np.float32)[:, None]
    x0 = x0.astype(np.int64) % S
    y0 = y0.astype(np.int64) % S
    x1, y1 = (x0 + 1) % S, (y0 + 1) % S
    base = texture_ids.astype(np.int64) * S * S
    c00 = flat[base + y0 * S + x0]
    c01 = flat[base + y0 * S + x1]
    c10 = flat[base + y1 * S + x0]
    c11 = flat[base + y1 * S + x1]
    top = c00 + (c01 - c00) * fx
    bottom = c10 + (c11 - c10) * fx
    return top + (bottom - top) * fy


class TextureAtlas:
    """All textures of a scene stacked into one image for ``cv2.remap`` (bilinear, multi-threaded).

    Each texture gets one extra row and column copied from its first (a wrap pad) so that bilinear
    taps never bleed into the next texture. ``cv2.remap`` stores coordinates as 16-bit integers
    plus 1/32 texel, so atlases taller than 32767 rows fall back to :func:`sample_textures`.
    """

    _REMAP_COLS = 4096
    _MAX_ROWS = 32000

    def __init__(self, textures: np.ndarray):
        self.textures = textures
        self.size = textures.shape[1]
        padded = np.pad(textures, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="wrap")
        self.image = np.ascontiguousarray(padded.reshape(-1, self.size + 1, 3))

    def sample(self, texture_ids: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Same contract as :func:`sample_textures` ((P,) ids, (P, 2) uv -> (P, 3) float32)."""
        if len(self.image) > self._MAX_ROWS:
            return sample_textures(self.textures, texture_ids, uv)
        S, P = self.size, len(uv)
        x = np.mod(uv[:, 0].astype(np.float64) * S - 0.5, S)
        y = np.mod(uv[:, 1].astype(np.float64) * S - 0.5, S) + texture_ids * (S + 1)
        cols = self._REMAP_COLS
        rows = -(-P // cols)
        mx = np.zeros(rows * cols, np.float32)
        my = np.zeros(rows * cols, np.float32)
        mx[:P], my[:P] = x, y
        out = cv2.remap(self.image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(-1, 3)[:P]
