"""Training data: clip shards, the torch Dataset, SSM pairs and GGM masking."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from worldstereo.camera import Cameras, check_smoothness
from worldstereo.data.augment import augment_extra_views, ggm_keep_mask, rectangle_mask
from worldstereo.data.datasets import ClipConfig, ClipDataset, collision_free_trajectory, generate_clips, sample_ssm_pair
from worldstereo.data.synthetic import make_scene

CONFIG = ClipConfig(n_scenes=2, clips_per_scene=2, n_frames=12, width=40, height=30, kinds=("room", "object"), seed=3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return generate_clips(root, CONFIG)


def test_generate_clips_writes_index_and_shards(clips):
    index = json.loads(clips.read_text())
    assert index["version"] == 1 and len(index["clips"]) == 4
    assert {c["kind"] for c in index["clips"]} == {"room", "object"}
    with np.load(clips.parent / index["clips"][0]["shard"]) as z:
        assert z["clip0_frames"].shape == (12, 30, 40, 3) and z["clip0_frames"].dtype == np.uint8
        assert z["clip0_depth"].shape == (12, 30, 40) and (z["clip0_depth"] > 0).mean() > 0.95
        assert z["clip0_cam_from_world"].shape == (12, 4, 4)


def test_generate_clips_is_deterministic(clips, tmp_path):
    again = generate_clips(tmp_path, CONFIG)
    assert json.loads(again.read_text())["clips"] == json.loads(clips.read_text())["clips"]
    for shard in sorted(p.name for p in clips.parent.glob("*.npz")):
        with np.load(clips.parent / shard) as a, np.load(tmp_path / shard) as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_clip_depth_and_cameras_agree_across_frames(clips):
    """Unproject frame 0 and reproject into the last frame: the stored cameras explain the stored depth."""
    index = json.loads(clips.read_text())
    with np.load(clips.parent / index["clips"][0]["shard"]) as z:
        depth, K, T = z["clip0_depth"], z["clip0_K"], z["clip0_cam_from_world"]
    cams = Cameras(K, T, 40, 30)
    pix = np.stack(np.meshgrid(np.arange(40) + 0.5, np.arange(30) + 0.5), -1).reshape(-1, 2)
    pts = cams[0].unproject(pix, depth[0].reshape(1, -1).astype(np.float64))[0]
    uv, zz = cams[-1].project(pts)
    u, v = uv[0, :, 0], uv[0, :, 1]
    ok = (zz[0] > 0) & (u >= 0) & (u < 40) & (v >= 0) & (v < 30)
    seen = depth[-1][v[ok].astype(int), u[ok].astype(int)]
    close = np.abs(seen - zz[0][ok]) < 0.05 * zz[0][ok]
    assert ok.sum() > 100 and close.mean() > 0.6  # the rest is occlusion and pixel rounding


def test_trajectories_stay_in_free_space():
    scene = make_scene(1, "room")
    rng = np.random.default_rng(0)
    for preset in ("orbit", "rotate", "dolly", "truck", "pan"):
        start = scene.sample_camera(rng, 32, 24)
        traj = collision_free_trajectory(scene, start, preset, rng, 10)
        assert scene.is_free(traj.cameras.centers, 0.15).all()
        assert check_smoothness(traj).smooth
        np.testing.assert_allclose(traj.cameras.cam_from_world[0], start.cam_from_world[0], atol=1e-9)


def test_dataset_items_are_deterministic_and_relative_to_the_first_camera(clips):
    ds = ClipDataset(clips.parent, n_frames=8, seed=5)
    a, b = ds[1], ds[1]
    assert a["frames"].shape == (8, 30, 40, 3) and a["frames"].dtype == torch.float32
    assert 0 <= a["frames"].min() and a["frames"].max() <= 1
    assert torch.equal(a["frames"], b["frames"])
    torch.testing.assert_close(a["cam_from_world"][0], torch.eye(4), atol=1e-5, rtol=0)
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts.add(round(float(ds[1]["depth"].sum()), 3))
    assert len(starts) > 1  # new epochs draw new windows
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataset_ssm_mode_pairs_target_and_shuffled_references(clips):
    ds = ClipDataset(clips, mode="ssm", n_frames=6, seed=0)
    item = ds[0]
    assert item["ref_frames"].shape == item["frames"].shape == (6, 30, 40, 3)
    keep = item["ref_keep"]
    assert keep.dtype == torch.bool and keep.shape == (6,)
    assert (item["ref_frames"][~keep] == 0).all() and (item["ref_depth"][~keep] == 0).all()


def test_ssm_pairs_follow_the_paper_statistics():
    rng = np.random.default_rng(0)
    overlaps, kept, dropped_all = [], [], 0
    for _ in range(2000):
        p = sample_ssm_pair(40, 16, rng)
        assert len(set(p.reference)) == 16 and np.ptp(p.reference) == 15  # a window, shuffled
        assert np.array_equal(p.target, np.arange(p.target[0], p.target[0] + 16))
        assert len(np.intersect1d(p.target, p.reference)) == round(p.overlap * 16)
        overlaps.append(p.overlap)
        if not p.keep.any():
            dropped_all += 1
        else:
            kept.append(p.keep.mean())
    assert 0.3 <= min(overlaps) and max(overlaps) <= 0.9
    assert 0.07 < dropped_all / 2000 < 0.13
    assert np.mean(kept) == pytest.approx(0.7, abs=0.03)
    with pytest.raises(ValueError, match="cannot hold"):
        sample_ssm_pair(17, 16, rng)  # two windows of 16 in 17 frames overlap by 15/16 > 90 %
    assert sample_ssm_pair(20, 16, rng).overlap >= 0.75  # a short clip narrows the overlap range


def test_ggm_mask_drops_random_pixels_and_one_rectangle():
    rng = np.random.default_rng(1)
    for _ in range(50):
        rect = rectangle_mask(60, 80, area := rng.uniform(0.2, 0.7), rng)
        ys, xs = np.nonzero(rect)
        assert rect[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()  # contiguous
        assert abs(rect.mean() - area) < 0.03
        keep = ggm_keep_mask(60, 80, rng)
        # keep share = (1 - random share) (1 - rectangle share), shares in [0.3, 0.7] and [0.2, 0.7]
        assert 0.3 * 0.3 - 0.03 <= keep.mean() <= 0.7 * 0.8 + 0.03
    with pytest.raises(ValueError, match="pixel_drop"):
        ggm_keep_mask(8, 8, rng, pixel_drop=(0.8, 0.2))


def test_ggm_augmentation_keeps_array_kind_and_is_reproducible():
    depth = torch.rand(3, 20, 30) + 0.5
    masked, keep = augment_extra_views(depth, np.random.default_rng(7))
    again, _ = augment_extra_views(depth, np.random.default_rng(7))
    assert isinstance(masked, torch.Tensor) and keep.shape == (3, 20, 30)
    assert torch.equal(masked, again)
    assert (masked[~keep] == 0).all() and torch.equal(masked[keep], depth[keep])
    m_np, k_np = augment_extra_views(depth[0].numpy(), np.random.default_rng(7))
    assert isinstance(m_np, np.ndarray) and k_np.shape == (20, 30)
