import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from worldstereo.camera import Cameras, CameraValidationError, intrinsics_from_fov, scale_intrinsics
from conftest import random_cameras

K0 = intrinsics_from_fov(60, 64, 48)


# -- construction errors: each invalid field is named with its frame -----------------------------
@pytest.mark.parametrize(
    "mutate, field, index",
    [
        (lambda K, T: (K.__setitem__((2, 0, 0), -5.0), T), "K", 2),
        (lambda K, T: (K.__setitem__((1, 1, 1), 0.0), T), "K", 1),
        (lambda K, T: (K.__setitem__((0, 0, 2), np.nan), T), "K", 0),
        (lambda K, T: (K.__setitem__((3, 2, 2), 2.0), T), "K", 3),
        (lambda K, T: (K, T.__setitem__((1, 0, 0), 2.0)), "cam_from_world", 1),
        (lambda K, T: (K, T.__setitem__((2, 0, 3), np.inf)), "cam_from_world", 2),
        (lambda K, T: (K, T.__setitem__((3, 3, 0), 1.0)), "cam_from_world", 3),
        (lambda K, T: (K, T.__setitem__((0, slice(0, 3), 0), [-1.0, 0.0, 0.0])), "cam_from_world", 0),
    ],
)
def test_invalid_fields_name_field_and_frame(mutate, field, index):
    K = np.tile(K0, (4, 1, 1))
    T = np.tile(np.eye(4), (4, 1, 1))
    mutate(K, T)
    with pytest.raises(CameraValidationError) as exc:
        Cameras(K, T, 64, 48)
    assert exc.value.field == field and exc.value.index == index
    assert str(exc.value).startswith(f"{field}[{index}]: ")


def test_reflection_is_rejected_with_its_reason():
    T = np.eye(4)
    T[0, 0] = -1
    with pytest.raises(ValueError, match=r"cam_from_world\[0\]: rotation has det -1"):
        Cameras(K0, T, 64, 48)


@pytest.mark.parametrize("w, h", [(0, 48), (64, -1), (64.0, 48), (True, 48)])
def test_invalid_size(w, h):
    with pytest.raises(CameraValidationError, match="width|height"):
        Cameras(K0, np.eye(4), w, h)


def test_invalid_shapes():
    with pytest.raises(CameraValidationError, match=r"cam_from_world: expected shape \(N, 4, 4\)"):
        Cameras(K0, np.eye(3), 64, 48)
    with pytest.raises(CameraValidationError, match="2 intrinsics for 3 extrinsics"):
        Cameras(np.tile(K0, (2, 1, 1)), np.tile(np.eye(4), (3, 1, 1)), 64, 48)


def test_rotation_tolerance_is_1e_4():
    R = np.eye(4)
    R[0, 0] = 1 + 4e-5  # |R^T R - I| = 8e-5, within tolerance
    Cameras(K0, R, 64, 48)
    R[0, 0] = 1 + 5e-4
    with pytest.raises(CameraValidationError):
        Cameras(K0, R, 64, 48)


def test_arrays_are_read_only(rng):
    cams = random_cameras(rng)
    with pytest.raises(ValueError):
        cams.K[0, 0, 0] = 1.0


# -- conventions ------------------------------------------------------------------------------------
def test_convention_opencv_axes():
    """A point in front (+z), right (+x) and below (+y) projects right of and below the centre."""
    cams = Cameras.identity(K0, 64, 48)
    uv, z = cams.project(np.array([[0.0, 0.0, 2.0], [0.5, 0.0, 2.0], [0.0, 0.5, 2.0], [0.0, 0.0, -2.0]]))
    assert np.allclose(uv[0, 0], [32, 24]) and z[0, 0] == 2.0
    assert uv[0, 1, 0] > 32 and np.isclose(uv[0, 1, 1], 24)
    assert uv[0, 2, 1] > 24 and np.isclose(uv[0, 2, 0], 32)
    assert z[0, 3] < 0


def test_convention_cam_from_world_maps_world_to_camera():
    T = np.eye(4)
    T[:3, 3] = [0, 0, 5]  # world origin is 5 units in front of the camera
    cams = Cameras(K0, T, 64, 48)
    _, z = cams.project(np.zeros((1, 3)))
    assert np.isclose(z[0, 0], 5.0)
    assert np.allclose(cams.centers[0], [0, 0, -5])
    assert np.allclose(cams.world_from_cam[0] @ cams.cam_from_world[0], np.eye(4))


def test_convention_pixel_centres_at_half():
    """The ray through the centre of pixel (0, 0) hits (0.5, 0.5) in pixel units; the image spans [0, W]."""
    K = np.array([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 1]])  # principal point at the top-left image corner
    cams = Cameras(K, np.eye(4), 4, 4)
    p = cams.unproject(np.array([[0.5, 0.5]]), np.array([[10.0]]))
    assert np.allclose(p[0, 0], [0.5, 0.5, 10.0])


def test_convention_resize_is_pure_scale_of_K():
    cams = Cameras.identity(K0, 64, 48)
    small = cams.resized(32, 24)
    assert np.allclose(small.K[0], scale_intrinsics(K0, 0.5, 0.5))
    pt = np.array([[0.3, -0.2, 3.0]])
    uv_big, _ = cams.project(pt)
    uv_small, _ = small.project(pt)
    assert np.allclose(uv_small, uv_big * 0.5)
    # the centre of the image maps to the centre after resize
    assert np.allclose(small.K[0, :2, 2], [16, 12])


# -- properties ---------------------------------------------------------------------------------------
def test_fov_and_len_and_indexing(rng):
    cams = Cameras.identity(intrinsics_from_fov(90, 64, 48), 64, 48, n=6)
    assert np.allclose(cams.fov_x, 90)
    assert len(cams) == 6 and len(cams[2]) == 1 and len(cams[1:4]) == 3 and len(cams[[0, 5]]) == 2
    assert len(cams[np.array([True, False] * 3)]) == 3
    with pytest.raises(IndexError):
        cams[6]
    rc = random_cameras(rng)
    assert np.allclose(rc[-1].cam_from_world[0], rc.cam_from_world[-1])


def test_world_from_cam_inverts(rng):
    cams = random_cameras(rng, n=7)
    assert np.allclose(cams.world_from_cam @ cams.cam_from_world, np.eye(4), atol=1e-12)
    assert np.allclose(cams.world_from_cam[:, :3, 3], cams.centers)


def test_dict_round_trip(rng):
    cams = random_cameras(rng)
    back = Cameras.from_dict(cams.to_dict())
    assert back.allclose(cams, atol=0)
    with pytest.raises(ValueError, match="missing keys"):
        Cameras.from_dict({"K": []})


def test_torch_interop(rng):
    cams = random_cameras(rng)
    K, T = cams.to_torch(dtype=torch.float64)
    assert K.shape == (5, 3, 3) and T.shape == (5, 4, 4)
    assert Cameras(K, T, 64, 48).allclose(cams, atol=0)
    pts = torch.tensor(rng.normal(size=(10, 3)) + [0, 0, 4], dtype=torch.float64)
    uv_t, z_t = cams.project(pts)
    uv_n, z_n = cams.project(pts.numpy())
    assert isinstance(uv_t, torch.Tensor) and uv_t.dtype == torch.float64
    assert np.allclose(uv_t.numpy(), uv_n) and np.allclose(z_t.numpy(), z_n)


# -- projection / unprojection round trips (property based) ---------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), skew=st.floats(-2.0, 2.0))
def test_project_unproject_round_trip(seed, skew):
    rng = np.random.default_rng(seed)
    cams = random_cameras(rng, n=3)
    K = cams.K.copy()
    K[:, 0, 1] = skew
    cams = Cameras(K, cams.cam_from_world, cams.width, cams.height)
    pix = rng.uniform(0, [64, 48], size=(3, 20, 2))
    depth = rng.uniform(0.1, 50, size=(3, 20))
    pts = cams.unproject(pix, depth)
    uv, z = cams.project(pts)
    assert np.allclose(uv, pix, atol=1e-8) and np.allclose(z, depth, rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_unproject_project_round_trip_points(seed):
    rng = np.random.default_rng(seed)
    cams = random_cameras(rng, n=2)
    pts = rng.normal(size=(15, 3)) * 3
    uv, z = cams.project(pts)
    keep = np.abs(z) > 1e-3
    back = cams.unproject(uv, z)
    assert np.allclose(back[keep], np.broadcast_to(pts, back.shape)[keep], atol=1e-6)


def test_concat_requires_same_size(rng):
    a = random_cameras(rng, n=2)
    assert len(Cameras.concat([a, a])) == 4
    with pytest.raises(ValueError, match="resize first"):
        Cameras.concat([a, a.resized(32, 24)])
