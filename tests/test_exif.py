"""EXIF on photos: orientation applied on load, focal length as a K source, precedence order."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image, ImageOps

from worldstereo.pipelines.exif import EXIF_IFD, TAG_FOCAL_35MM, TAG_FOCAL_LENGTH, TAG_FP_UNIT, TAG_FPX_RES, read_exif
from worldstereo.pipelines.inputs import load_image, resolve_intrinsics


def _photo(path, w=40, h=24, orientation=None, f35=None, fmm=None, xres=None, unit=None):
    rng = np.random.default_rng(0)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    for tag, v in ((TAG_FOCAL_35MM, f35), (TAG_FOCAL_LENGTH, fmm), (TAG_FPX_RES, xres), (TAG_FP_UNIT, unit)):
        if v is not None:
            sub[tag] = v
    im.save(path, exif=exif)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_convention_exif_orientation_applied_as_pillow_does(tmp_path, orientation):
    path = _photo(tmp_path / "p.png", orientation=orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / 255
    got = load_image(path)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_focal_35mm_gives_K(tmp_path):
    cam = read_exif(_photo(tmp_path / "p.jpg", f35=36))
    K, src = resolve_intrinsics((24, 40), exif=cam)
    # 36 mm on a 36 mm wide frame: f = the long side in pixels (53.13 degree horizontal fov)
    assert K[0, 0] == pytest.approx(40) and K[1, 1] == pytest.approx(40)
    assert (K[0, 2], K[1, 2]) == (20, 12) and src.startswith("exif:FocalLengthIn35mmFilm")


def test_focal_mm_and_focal_plane_resolution_give_K(tmp_path):
    # 4 mm lens, 250 px per mm on the sensor (FocalPlaneResolutionUnit 4 = mm) -> 1000 px
    cam = read_exif(_photo(tmp_path / "p.jpg", w=400, h=300, fmm=4.0, xres=250.0, unit=4))
    K, src = resolve_intrinsics((300, 400), exif=cam)
    assert K[0, 0] == pytest.approx(1000) and "FocalPlaneXResolution" in src
    cam_in = read_exif(_photo(tmp_path / "q.jpg", w=400, h=300, fmm=4.0, xres=6350.0, unit=2))  # px per inch
    assert resolve_intrinsics((300, 400), exif=cam_in)[0][0, 0] == pytest.approx(1000)


def test_precedence_user_K_then_fov_then_exif_then_model_then_default(tmp_path, caplog):
    cam = read_exif(_photo(tmp_path / "p.jpg", f35=36))
    model_K = np.array([[77.0, 0, 20], [0, 77.0, 12], [0, 0, 1]])
    user_K = np.array([[55.0, 0, 20], [0, 55.0, 12], [0, 0, 1]])
    assert resolve_intrinsics((24, 40), None, user_K, model_K, cam)[1] == "given"
    assert resolve_intrinsics((24, 40), 90.0, None, model_K, cam)[1] == "fov:90"
    assert resolve_intrinsics((24, 40), None, None, model_K, cam)[1].startswith("exif:")
    assert resolve_intrinsics((24, 40), None, None, model_K, read_exif(_photo(tmp_path / "n.jpg")))[1] == "depth-model"
    with caplog.at_level(logging.WARNING):
        K, src = resolve_intrinsics((24, 40), None, None, None, None)
    assert src == "default-fov:60" and "60 degree" in caplog.text


def test_no_exif_or_absurd_focal_falls_back(tmp_path):
    assert read_exif(_photo(tmp_path / "p.png")) is None or read_exif(tmp_path / "p.png").focal_px(40, 24) is None
    from worldstereo.pipelines.exif import ExifCamera

    cam = ExifCamera(focal_mm=0.01, focal_plane_px_per_mm=1.0)  # f = 0.01 px: a 179.97 degree lens, ignored
    assert cam.focal_px(40, 24) is not None
    assert resolve_intrinsics((24, 40), exif=cam)[1] == "default-fov:60"
