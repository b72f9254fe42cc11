"""Cache3D: Sim(3) alignment of a mis-scaled, mis-placed second view, merge without a double layer,
refusal of a bad frame, budget, and the PLY + JSON files."""

import json
import logging

import numpy as np
import pytest
import torch

from geometry_scenes import raycast, surface_distance
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.memory import Cache3D

H, W = 120, 160
K = intrinsics_from_fov(70, W, H)
CAM1 = Cameras(K, np.eye(4), W, H)
CAM2 = Cameras(K, look_at((0.6, -0.2, 0.3), (0.2, 0.0, 4.5)), W, H)
SHIFT = np.array([0.08, -0.05, 0.06])  # the second camera is given 11 cm off (scene depth ~4 m)


@pytest.fixture(scope="module")
def views():
    d1, r1, _ = raycast(CAM1)
    d2, r2, _ = raycast(CAM2)
    return d1[0], r1[0], d2[0], r2[0]


def _shifted(cam, shift):
    wfc = cam.world_from_cam[0].copy()
    wfc[:3, 3] += shift
    return Cameras.from_world_from_cam(cam.K, wfc, cam.width, cam.height)


def test_second_view_scaled_and_shifted_merges_into_one_surface(views, caplog):
    d1, r1, d2, r2 = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    scene_depth = cache.scene_depth
    given = _shifted(CAM2, SHIFT)
    res = cache.add_frames(r2[None], 1.7 * d2[None], given)[0]
    assert res.accepted and res.inlier_ratio > 0.9
    # truth: X = c + (X' - c') / 1.7 with c, c' the true and the given camera centres
    s = 1 / 1.7
    truth = np.eye(4)
    truth[:3, :3] *= s
    truth[:3, 3] = CAM2.centers[0] - s * given.centers[0]
    est = np.asarray(res.cache_from_frame)
    assert res.scale == pytest.approx(s, rel=0.01)
    assert np.abs(est[:3, :3] / res.scale - np.eye(3)).max() < 0.01
    assert np.linalg.norm(est[:3, 3] - truth[:3, 3]) < 0.01 * scene_depth
    second = cache.points.select(cache.points.view_ids == 1)
    assert len(second) > 1000  # the part the first view did not see was added
    assert np.median(surface_distance(second.xyz.astype(np.float64))) < 0.005 * scene_depth
    # de-duplicated: no voxel holds two points
    ijk = np.floor(cache.points.xyz.astype(np.float64) / cache.voxel_size).astype(np.int64)
    assert len(np.unique(ijk, axis=0)) == len(cache)


def test_frame_with_random_depth_is_refused_with_a_warning(views, caplog):
    d1, r1, _, r2 = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    before = cache.points.xyz.copy()
    noise = np.random.default_rng(0).uniform(1, 8, (1, H, W)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        res = cache.add_frames(r2[None], noise, CAM2)[0]
    assert not res.accepted and "agree" in res.reason
    assert "not merged" in caplog.text
    np.testing.assert_array_equal(cache.points.xyz, before)
    assert cache.alignments == [res]


def test_frame_without_overlap_is_refused(views):
    d1, r1, d2, r2 = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    away = Cameras(K, look_at((0, 0, 0), (0, 0, -3)), W, H)  # looks backwards: nothing of the cache
    res = cache.add_frames(r2[None], d2[None], away)[0]
    assert not res.accepted and "overlap" in res.reason


def test_save_load_round_trip_and_budget(views, tmp_path):
    d1, r1, d2, r2 = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    cache.add_frames(r2[None], d2[None], CAM2)
    cache.save(tmp_path / "cache.ply")
    meta = json.loads((tmp_path / "cache.json").read_text())
    assert meta["points"] == len(cache) and meta["alignments"][0]["accepted"]
    back = Cache3D.load(tmp_path / "cache.ply")
    np.testing.assert_array_equal(back.points.xyz, cache.points.xyz)
    np.testing.assert_allclose(back.points.rgb, cache.points.rgb, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(back.points.view_ids, cache.points.view_ids)
    assert back.voxel_size == cache.voxel_size and back.alignments == cache.alignments
    small = Cache3D.from_image(r1, d1, CAM1, max_points=2000)
    assert len(small) <= 2000 and small.voxel_size > cache.voxel_size


def test_render_reproduces_the_input_view(views):
    d1, r1, _, _ = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    out = cache.render(CAM1)
    valid = out.mask[0].numpy() == 0
    assert valid.mean() > 0.97
    np.testing.assert_allclose(out.depth[0].numpy()[valid], d1[valid], rtol=0.02)


def test_panorama_cache_starts_from_the_distance_map():
    he, we = 32, 64
    cache = Cache3D.from_panorama(np.full((he, we, 3), 0.25, np.float32), np.full((he, we), 4.0, np.float32))
    assert cache.scene_depth == 4.0 and len(cache) > 0.8 * he * we
    np.testing.assert_allclose(np.linalg.norm(cache.points.xyz, axis=1), 4.0, rtol=1e-5)
    np.testing.assert_allclose(cache.points.rgb, 0.25)


def test_soft_frame_fills_gaps_without_displacing_or_hiding_firm_points(views, tmp_path):
    """A derived frame (a render plus inpainting) merges as soft points: none where its weight is 0,
    no firm point lost to de-duplication, the firm surfaces keep their depth in renders, and the
    flag survives a save/load."""
    d1, r1, d2, r2 = views
    cache = Cache3D.from_image(r1, d1, CAM1)
    firm_before = cache.points
    before = cache.render(CAM1)
    weights = np.ones((1, H, W), np.float32)
    weights[0, :, : W // 2] = 0.0  # the left half of the frame adds nothing
    res = cache.add_frames(r2[None], d2[None], CAM2, weights=weights, soft=True)[0]
    assert res.accepted and cache.soft_views == {1}
    soft = cache.points.select(cache.soft)
    assert len(soft) > 1000 and np.array_equal(cache.points.view_ids == 1, cache.soft)
    uv, _ = CAM2.project(soft.xyz.astype(np.float64))
    assert uv[0, :, 0].min() >= W // 2 - 1
    firm = cache.points.select(~cache.soft)
    assert len(firm) == len(firm_before)  # a soft point never wins a voxel against a firm one
    after = cache.render(CAM1)
    seen = before.mask[0] == 0
    torch.testing.assert_close(after.depth[0][seen], before.depth[0][seen], rtol=0.02, atol=0)
    assert (after.rgb[0][seen] - before.rgb[0][seen]).abs().mean() < 0.02
    cache.save(tmp_path / "cache.ply")
    back = Cache3D.load(tmp_path / "cache.ply")
    assert back.soft_views == {1} and np.array_equal(back.soft, cache.soft)
