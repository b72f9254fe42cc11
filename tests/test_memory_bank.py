"""MemoryBank: retrieval of the ground-truth nearest view, clip downsampling, panorama bank, files, pointmaps."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from geometry_scenes import raycast
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at
from worldstereo.memory import KEYFRAMES_21, Cache3D, MemoryBank, overlap_fov_score, sample_targets

W, H = 64, 48
K = intrinsics_from_fov(60, W, H)
BLANK = np.zeros((H, W, 3), np.float32)


def _perturbed(cam_from_world, rng, deg, metres):
    T = cam_from_world.copy()
    T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3) * np.radians(deg) / np.sqrt(3)).as_matrix() @ T[:3, :3]
    T[:3, 3] += rng.normal(size=3) * metres
    return T


def test_retrieval_picks_the_ground_truth_nearest_view():
    """Bank: for each of 12 anchor poses one near twin (2 deg, 5 cm off) among 8 farther decoys
    (15-40 deg, 30-60 cm off); targets are the anchors, the answer is the twin."""
    rng = np.random.default_rng(0)
    anchors = [look_at(rng.normal(size=3), rng.normal(size=3) * 2 + [0, 0, 4]) for _ in range(12)]
    bank = MemoryBank(scene_depth=3.0)
    twin = {}
    for a, T in enumerate(anchors):
        slots = rng.permutation(9)
        for s in slots:
            if s == 0:
                twin[a] = len(bank)
                pose = _perturbed(T, rng, 2, 0.05)
            else:
                pose = _perturbed(T, rng, rng.uniform(15, 40), rng.uniform(0.3, 0.6))
            bank.add(BLANK, Cameras(K, pose, W, H), source=f"traj{a}", index=int(s))
    targets = Cameras(K, np.stack(anchors), W, H)
    for method in ("volume", "box"):
        r = bank.retrieve(targets, every=1, method=method)
        assert list(r.target_indices) == list(range(12))
        if method == "volume":
            assert [int(b) for b in r.bank_indices] == [twin[a] for a in range(12)]
            assert np.all(r.scores > 0.7) and np.all(r.angles < 5)
        else:  # the cheap box IoU gets most of them
            assert np.mean([int(b) == twin[a] for a, b in enumerate(r.bank_indices)]) >= 0.75
    assert overlap_fov_score(r) == pytest.approx(float(np.sum(r.scores)))


def test_retrieval_samples_every_fourth_target_and_penalises_opposite_views():
    assert list(sample_targets(21, 4)) == [0, 5, 10, 15, 20]
    assert list(sample_targets(3, 4)) == [0]
    bank = MemoryBank(scene_depth=2.0)
    bank.add(BLANK, Cameras(K, look_at((0, 0, 0), (0, 0, 3)), W, H))
    bank.add(BLANK, Cameras(K, look_at((0, 0, 4), (0, 0, 1)), W, H))  # faces the first one
    r = bank.retrieve(Cameras(K, look_at((0, 0, 3.9), (0, 0, 0)), W, H), every=4)
    assert r.bank_indices[0] == 1 and r.angles[0] < 1
    raw, ang = bank.scores(Cameras(K, look_at((0, 0, 0.1), (0, 0, 3)), W, H), use_angle_penalty=False)
    pen, _ = bank.scores(Cameras(K, look_at((0, 0, 0.1), (0, 0, 3)), W, H))
    assert ang[1, 0] == pytest.approx(180) and pen[1, 0] < raw[1, 0]


def test_add_clip_default_downsampling():
    bank = MemoryBank()
    cams = Cameras.identity(K, W, H, n=21)
    idx = bank.add_clip(np.zeros((21, H, W, 3), np.float32), cams, source="orbit")
    assert [bank.frames[i].index for i in idx] == list(KEYFRAMES_21)
    idx = bank.add_clip(np.zeros((10, H, W, 3), np.float32), cams[:10], source="up")
    assert [bank.frames[i].index for i in idx] == [0, 3, 6, 9]
    idx = bank.add_clip(np.zeros((10, H, W, 3), np.float32), cams[:10], stride=5)
    assert [bank.frames[i].index for i in idx] == [4, 9]
    with pytest.raises(ValueError, match="cameras"):
        bank.add_clip(np.zeros((3, H, W, 3), np.float32), cams[:2])


def test_panorama_bank_has_27_views_with_depth():
    he, we = 64, 128
    pano = np.random.default_rng(0).random((he, we, 3)).astype(np.float32)
    bank = MemoryBank.from_panorama(pano, np.full((he, we), 2.0, np.float32), width=104, height=60)
    assert len(bank) == 27 and bank.scene_depth == pytest.approx(2.0)
    f = bank.frames[0]
    assert f.image.shape == (60, 104, 3) and f.source == "panorama"
    # a sphere of radius 2: z-depth = 2 cos(angle off axis); 2 on the axis, less at the borders
    assert f.depth[30, 52] == pytest.approx(2.0, rel=1e-3) and f.depth[0, 0] < 1.2


def test_bank_save_load_round_trip(tmp_path):
    bank = MemoryBank()
    rng = np.random.default_rng(1)
    bank.add(rng.random((H, W, 3)).astype(np.float32), Cameras(K, look_at((0.1, 0, 0), (0, 0, 3)), W, H), rng.uniform(1, 5, (H, W)).astype(np.float32))
    bank.add(rng.random((H, W, 3)).astype(np.float32), Cameras.identity(K, W, H), source="orbit", index=7)
    bank.save(tmp_path / "memory")
    meta = json.loads((tmp_path / "memory" / "bank.json").read_text())
    assert meta["frames"][1] == {**meta["frames"][1], "image": "frame_0001.png", "source": "orbit", "index": 7, "depth": None}
    back = MemoryBank.load(tmp_path / "memory")
    assert len(back) == 2 and back.scene_depth == bank.scene_depth
    for a, b in zip(bank.frames, back.frames):
        np.testing.assert_allclose(b.image, a.image, atol=0.5 / 255 + 1e-6)
        assert b.camera.allclose(a.camera) and (b.source, b.index) == (a.source, a.index)
    np.testing.assert_allclose(back.frames[0].depth, bank.frames[0].depth, atol=5.0 / 65535)


def test_pointmaps_encode_world_xyz_consistently_across_views():
    Hs, Ws = 60, 80
    Ks = intrinsics_from_fov(70, Ws, Hs)
    cam = Cameras(Ks, np.eye(4), Ws, Hs)
    depth, rgb, _ = raycast(cam)
    cache = Cache3D.from_image(rgb[0], depth[0], cam)
    bank = MemoryBank()
    bank.add(rgb[0], cam, depth[0])
    target = Cameras(Ks, look_at((0.3, 0, 0.2), (0, 0, 4)), Ws, Hs)
    tgt, ref = bank.pointmaps(cache, target, [0])
    assert tgt.shape == (1, Hs, Ws, 3) and ref.shape == (1, Hs, Ws, 3)
    assert tgt.min() >= 0 and tgt.max() <= 1
    hole = cache.render(target).mask[0].numpy() > 0
    assert hole.any() and np.all(tgt[0][hole] == 0)
    # decode the reference pointmap and compare with the true surface points
    lo, hi = cache.points.bounds(0.005)
    xyz = ref[0] * (hi - lo) + lo
    _, _, hits = raycast(cam)
    ok = (cache.render(cam).mask[0].numpy() == 0) & np.all((hits[0] >= lo) & (hits[0] <= hi), -1)
    assert ok.mean() > 0.8
    assert np.median(np.linalg.norm(xyz[ok] - hits[0][ok], axis=-1)) < 0.01
