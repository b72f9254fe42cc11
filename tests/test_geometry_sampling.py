import numpy as np
import torch

from worldstereo.geometry.sampling import bilinear_sample, bilinear_sample_clamped


def test_the_two_border_rules_agree_inside_and_differ_only_at_the_border():
    rng = np.random.default_rng(0)
    img = rng.random((7, 9, 3))
    inner = np.stack([rng.uniform(0.5, 8.5 - 1e-6, 200), rng.uniform(0.5, 6.5 - 1e-6, 200)], 1)
    a = bilinear_sample(torch.from_numpy(img), inner).numpy()
    b = bilinear_sample_clamped(img, inner)
    np.testing.assert_allclose(a, b, atol=1e-12)
    outside = np.array([[0.2, 3.5], [8.9, 3.0], [4.0, -1.0]])
    assert np.isnan(bilinear_sample(torch.from_numpy(img), outside).numpy()).all()
    np.testing.assert_allclose(bilinear_sample_clamped(img, outside[:1]), img[3:4, 0], atol=1e-12)


def test_convention_pixel_centres_sample_exactly():
    img = np.arange(12.0).reshape(3, 4, 1)
    uv = np.array([[1.5, 1.5], [2.5, 0.5]])  # centres of (row 1, col 1) and (row 0, col 2)
    np.testing.assert_array_equal(bilinear_sample(torch.from_numpy(img), uv).numpy()[:, 0], [5.0, 2.0])
    np.testing.assert_array_equal(bilinear_sample_clamped(img, uv)[:, 0], [5.0, 2.0])


def test_a_nan_texel_poisons_only_its_neighbourhood():
    img = np.ones((5, 5, 1))
    img[2, 2] = np.nan
    out = bilinear_sample(torch.from_numpy(img), np.array([[2.7, 2.7], [1.2, 1.2]])).numpy()[:, 0]
    assert np.isnan(out[0]) and out[1] == 1.0
