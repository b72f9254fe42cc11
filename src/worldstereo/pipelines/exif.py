"""Camera facts from a photo's EXIF: orientation (applied on load) and the focal length (-> K).

The focal length in pixels comes, in this order, from ``FocalLengthIn35mmFilm`` (a 36 mm wide
full frame: ``f_px = f35 / 36 * max(W, H)``, the diagonal-equivalent rule phones use, taken on the
long side) or from ``FocalLength`` in mm with ``FocalPlaneXResolution`` (pixels per unit of
``FocalPlaneResolutionUnit``). Anything missing or absurd gives ``None`` and the caller falls back.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
TAG_FOCAL_LENGTH = 0x920A
TAG_FOCAL_35MM = 0xA405
TAG_FPX_RES = 0xA20E
TAG_FPY_RES = 0xA20F
TAG_FP_UNIT = 0xA210
TAG_ORIENTATION = 0x0112
# FocalPlaneResolutionUnit: 2 = inch, 3 = cm, 4 = mm, 5 = um
_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}
FULL_FRAME_WIDTH_MM = 36.0


@dataclass
class ExifCamera:
    """What EXIF says about the camera of an image as stored (before orientation)."""

    focal_35mm: Optional[float] = None
    focal_mm: Optional[float] = None
    focal_plane_px_per_mm: Optional[float] = None
    orientation: int = 1

    def focal_px(self, width: int, height: int) -> Optional[tuple[float, str]]:
        """(focal length in pixels of a width x height image, which tags gave it), or None."""
        if self.focal_35mm and self.focal_35mm > 0:
            return self.focal_35mm / FULL_FRAME_WIDTH_MM * max(width, height), f"exif:FocalLengthIn35mmFilm={self.focal_35mm:g}"
        if self.focal_mm and self.focal_mm > 0 and self.focal_plane_px_per_mm and self.focal_plane_px_per_mm > 0:
            return self.focal_mm * self.focal_plane_px_per_mm, f"exif:FocalLength={self.focal_mm:g}mm+FocalPlaneXResolution"
        return None

    def K(self, width: int, height: int) -> Optional[tuple[np.ndarray, str]]:
        """K (3, 3) with the principal point at the centre, for the (oriented) image size, or None."""
        got = self.focal_px(width, height)
        if got is None:
            return None
        f, src = got
        fov = np.degrees(2 * np.arctan(width / (2 * f)))
        if not 1.0 <= fov <= 179.0:
            log.warning("EXIF focal length gives a %.3g degree field of view: ignored", fov)
            return None
        return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]]), src


def _num(v) -> Optional[float]:
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if np.isfinite(x) else None


def read_exif(path: str | os.PathLike) -> Optional[ExifCamera]:
    """The camera facts of an image file, or None when it has no (readable) EXIF."""
    from PIL import Image

    try:
        with Image.open(Path(path)) as im:
            exif = im.getexif()
    except Exception:  # noqa: BLE001 - an unreadable file is reported by load_image, not here
        return None
    if not exif:
        return None
    sub = exif.get_ifd(EXIF_IFD)
    tags = {**dict(exif), **dict(sub)}
    f35 = _num(tags.get(TAG_FOCAL_35MM))
    fmm = _num(tags.get(TAG_FOCAL_LENGTH))
    xres = _num(tags.get(TAG_FPX_RES))
    unit = int(_num(tags.get(TAG_FP_UNIT)) or 2)
    px_per_mm = xres / _UNIT_MM[unit] if xres and unit in _UNIT_MM else None
    orient = int(_num(tags.get(TAG_ORIENTATION)) or 1)
    return ExifCamera(f35, fmm, px_per_mm, orient)
