import json

import imageio.v3 as iio
import numpy as np
import pytest

from worldstereo.camera import intrinsics_from_fov
from worldstereo.pipelines.inputs import (
    InputError, check_panorama, load_depth, load_image, load_intrinsics, resolve_intrinsics,
)


def test_load_image_formats(tmp_path, rng):
    rgb = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "a.png", rgb)
    img = load_image(tmp_path / "a.png")
    assert img.dtype == np.float32 and img.shape == (20, 30, 3) and np.allclose(img * 255, rgb)
    iio.imwrite(tmp_path / "g.png", rgb[..., 0])
    assert load_image(tmp_path / "g.png").shape == (20, 30, 3)
    rgba = np.concatenate([rgb, np.full((20, 30, 1), 128, np.uint8)], -1)
    iio.imwrite(tmp_path / "rgba.png", rgba)
    assert np.allclose(load_image(tmp_path / "rgba.png") * 255, rgb)


@pytest.mark.parametrize("content, message", [(b"not an image at all", "not a readable image"), (None, "no such image")])
def test_load_image_errors(tmp_path, content, message):
    p = tmp_path / "x.png"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_image(p)
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


def test_panorama_must_be_2_to_1():
    check_panorama(np.zeros((64, 128, 3)))
    with pytest.raises(InputError, match="width = 2 x height, got 100x64; resize it to 128x64"):
        check_panorama(np.zeros((64, 100, 3)))


def test_depth_formats_agree(tmp_path, rng):
    import OpenEXR

    d = rng.uniform(0.5, 4.0, (12, 16)).astype(np.float32)
    np.save(tmp_path / "d.npy", d)
    iio.imwrite(tmp_path / "d.png", np.round(d * 1000).astype(np.uint16))
    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": d}) as f:
        f.write(str(tmp_path / "d.exr"))
    assert np.array_equal(load_depth(tmp_path / "d.npy", (12, 16)), d)
    assert np.allclose(load_depth(tmp_path / "d.png"), d, atol=5e-4)
    assert np.array_equal(load_depth(tmp_path / "d.exr"), d)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((12, 16), np.nan, np.float32), "non-finite depth"),
        (-np.ones((12, 16), np.float32), "negative depth"),
        (np.zeros((12, 16), np.float32), "every depth value is 0"),
        (np.ones((10, 16), np.float32), "depth is 16x10 but the image is 16x12"),
        (np.ones((12, 16, 3), np.float32), "2-D numeric array"),
    ],
)
def test_depth_errors(tmp_path, array, message):
    np.save(tmp_path / "d.npy", array)
    with pytest.raises(InputError, match=message):
        load_depth(tmp_path / "d.npy", (12, 16))


def test_depth_png_must_be_16_bit(tmp_path):
    iio.imwrite(tmp_path / "d8.png", np.ones((12, 16), np.uint8))
    with pytest.raises(InputError, match="16-bit"):
        load_depth(tmp_path / "d8.png")
    (tmp_path / "d.tiff").write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported depth format"):
        load_depth(tmp_path / "d.tiff")


def test_intrinsics_sources(tmp_path):
    K = intrinsics_from_fov(50, 200, 100)
    (tmp_path / "k.json").write_text(json.dumps({"K": K.tolist(), "width": 200, "height": 100}))
    assert np.allclose(load_intrinsics(tmp_path / "k.json", (50, 100)), np.diag([0.5, 0.5, 1]) @ K)
    np.savetxt(tmp_path / "k.txt", K)
    assert np.allclose(load_intrinsics(tmp_path / "k.txt", (100, 200)), K)
    (tmp_path / "bad.json").write_text('{"K": [[0, 0, 1]]}')
    with pytest.raises(InputError, match="K must be a finite 3x3"):
        load_intrinsics(tmp_path / "bad.json", (100, 200))
    K_fov, src = resolve_intrinsics((100, 200), fov=50)
    assert np.allclose(K_fov, K) and src == "fov:50"
    assert resolve_intrinsics((100, 200))[1] == "default-fov:60"
