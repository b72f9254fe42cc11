"""Umeyama, RANSAC-Umeyama and ICP against independent references (roma, evo, Open3D) and known transforms."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from worldstereo.geometry import Sim3, icp, ransac_umeyama, umeyama


def _random_sim3(rng, scale_range=(0.3, 3.0)) -> Sim3:
    return Sim3(float(rng.uniform(*scale_range)), Rotation.random(random_state=rng.integers(1 << 31)).as_matrix(), rng.normal(size=3) * 2)


@pytest.mark.parametrize("seed", range(5))
def test_umeyama_matches_roma_and_evo_on_noisy_sim3(seed):
    import roma
    from evo.core.geometry import umeyama_alignment

    rng = np.random.default_rng(seed)
    T = _random_sim3(rng)
    src = rng.normal(size=(200, 3))
    dst = T.apply(src) + rng.normal(scale=0.01, size=(200, 3))
    ours = umeyama(src, dst, with_scale=True)
    R_evo, t_evo, s_evo = umeyama_alignment(src.T, dst.T, with_scale=True)
    R_roma, t_roma, s_roma = roma.rigid_points_registration(torch.tensor(src), torch.tensor(dst), compute_scaling=True)
    np.testing.assert_allclose(ours.R, R_evo, atol=1e-9)
    np.testing.assert_allclose(ours.t, t_evo, atol=1e-9)
    assert ours.scale == pytest.approx(s_evo, rel=1e-9)
    np.testing.assert_allclose(ours.R, R_roma.numpy(), atol=1e-9)
    np.testing.assert_allclose(ours.t, t_roma.numpy(), atol=1e-9)
    assert ours.scale == pytest.approx(float(s_roma), rel=1e-9)
    assert ours.scale == pytest.approx(T.scale, rel=1e-2)


def test_umeyama_weights_match_roma_and_rigid_mode_keeps_unit_scale():
    import roma

    rng = np.random.default_rng(7)
    src = rng.normal(size=(100, 3))
    dst = _random_sim3(rng).apply(src) + rng.normal(scale=0.05, size=(100, 3))
    w = rng.uniform(0.1, 1.0, size=100)
    ours = umeyama(src, dst, weights=w)
    R, t, s = roma.rigid_points_registration(torch.tensor(src), torch.tensor(dst), weights=torch.tensor(w), compute_scaling=True)
    np.testing.assert_allclose(ours.matrix[:3, :3], float(s) * R.numpy(), atol=1e-9)
    np.testing.assert_allclose(ours.t, t.numpy(), atol=1e-9)
    assert umeyama(src, dst, with_scale=False).scale == 1.0


def test_umeyama_rejects_degenerate_pairs():
    line = np.outer(np.arange(10.0), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="collinear"):
        umeyama(line, line)
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(np.zeros((2, 3)), np.zeros((2, 3)))


def test_sim3_algebra_composes_and_inverts():
    rng = np.random.default_rng(3)
    a, b = _random_sim3(rng), _random_sim3(rng)
    x = rng.normal(size=(10, 3))
    np.testing.assert_allclose((a @ b).apply(x), a.apply(b.apply(x)), atol=1e-9)
    np.testing.assert_allclose(a.inverse().apply(a.apply(x)), x, atol=1e-9)
    np.testing.assert_allclose(Sim3.from_matrix(a.matrix).matrix, a.matrix, atol=1e-12)


@pytest.mark.parametrize("outlier_ratio", [0.3, 0.45])
def test_ransac_umeyama_ignores_outliers(outlier_ratio):
    rng = np.random.default_rng(1)
    T = _random_sim3(rng)
    src = rng.uniform(-1, 1, size=(2000, 3))
    dst = T.apply(src) + rng.normal(scale=1e-3, size=src.shape)
    bad = rng.random(len(src)) < outlier_ratio
    dst[bad] = rng.uniform(-5, 5, size=(bad.sum(), 3))
    res = ransac_umeyama(src, dst)
    assert res.transform.scale == pytest.approx(T.scale, rel=1e-3)
    np.testing.assert_allclose(res.transform.R, T.R, atol=2e-3)
    assert res.inlier_ratio == pytest.approx(1 - bad.mean(), abs=0.02)
    assert not res.inliers[bad].mean() > 0.02
    plain = umeyama(src, dst)
    assert abs(plain.scale - T.scale) > 10 * abs(res.transform.scale - T.scale)


def _surface(n=3000, seed=0):
    """A bumpy, asymmetric patch: ICP has a unique answer."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, size=(n, 2))
    z = 0.3 * np.sin(3 * xy[:, 0]) * np.cos(2 * xy[:, 1]) + 0.2 * xy[:, 0] ** 2
    return np.c_[xy, z]


@pytest.mark.parametrize("with_scale", [False, True])
def test_icp_recovers_known_transform(with_scale):
    pts = _surface()
    T = Sim3(1.08 if with_scale else 1.0, Rotation.from_rotvec([0.05, -0.08, 0.06]).as_matrix(), np.array([0.06, -0.04, 0.05]))
    res = icp(pts, T.apply(pts), with_scale=with_scale)
    np.testing.assert_allclose(res.transform.matrix, T.matrix, atol=1e-4)
    assert res.rmse < 1e-5


def test_icp_agrees_with_open3d():
    import open3d as o3d

    src = _surface(seed=1)
    T = Sim3(1.0, Rotation.from_rotvec([0.03, 0.04, -0.05]).as_matrix(), np.array([0.05, 0.02, -0.03]))
    dst = T.apply(_surface(n=4000, seed=2))  # different samples of the same surface
    ours = icp(src, dst, max_distance=0.2)
    pa, pb = o3d.geometry.PointCloud(), o3d.geometry.PointCloud()
    pa.points, pb.points = o3d.utility.Vector3dVector(src), o3d.utility.Vector3dVector(dst)
    ref = o3d.pipelines.registration.registration_icp(
        pa, pb, 0.2, np.eye(4), o3d.pipelines.registration.TransformationEstimationPointToPoint(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=100),
    )
    np.testing.assert_allclose(ours.transform.matrix, ref.transformation, atol=5e-3)
    np.testing.assert_allclose(ours.transform.matrix, T.matrix, atol=2e-2)


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.05, 20.0),
    n=st.integers(3, 60),
)
def test_umeyama_recovers_exact_sim3_property(seed, scale, n):
    rng = np.random.default_rng(seed)
    T = Sim3(scale, Rotation.random(random_state=seed % (2**31)).as_matrix(), rng.normal(size=3) * 5)
    src = rng.normal(size=(n, 3))
    if np.linalg.svd(src - src.mean(0), compute_uv=False)[1] < 1e-3:
        return  # nearly collinear draws are a different test
    est = umeyama(src, T.apply(src))
    np.testing.assert_allclose(est.apply(src), T.apply(src), atol=1e-6 * max(1.0, scale) * 10)
    assert est.scale == pytest.approx(scale, rel=1e-6)
