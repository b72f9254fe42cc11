"""reconstruct_scene (mvs / neural / hybrid) on a ray-cast room with ground truth, its inputs,
config and errors, and the Open3D hand-over conventions."""

import json

import numpy as np
import open3d as o3d
import pytest
import torch

from recon_scenes import NoiseTexture, f1_score, make_scene
from worldstereo.camera import Cameras, intrinsics_from_fov, look_at, save_trajectory
from worldstereo.camera.panorama import equirect_directions
from worldstereo.reconstruction import ReconstructedScene, ReconstructionConfig, reconstruct_scene
from worldstereo.reconstruction.fusion import open3d_intrinsic
from worldstereo.reconstruction.inputs import load_inputs, panorama_views, read_frames
from worldstereo.reconstruction.mvs import geometric_filter, plane_sweep, select_neighbors

N_FRAMES = 7
W, H = 80, 60


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def room():
    return make_scene(W, H, N_FRAMES)


def _videos(room):
    return [room.frames[i * N_FRAMES:(i + 1) * N_FRAMES] for i in range(4)]


def _f1(scene, room):
    o3d.utility.random.seed(0)
    pts = np.asarray(scene.mesh.to_open3d().sample_points_uniformly(100000).points)
    return f1_score(pts, room.gt_points, 0.01 * room.diagonal)


@pytest.fixture(scope="module")
def mvs_scene(room, tmp_path_factory):
    out = tmp_path_factory.mktemp("mvs")
    cfg = ReconstructionConfig(method="mvs", resolution=W, texture_resolution=64)
    return reconstruct_scene(_videos(room), room.trajectories, out, config=cfg), out


# -- conventions -----------------------------------------------------------------------------------
def test_convention_open3d_intrinsics_use_our_pixel_centres():
    """Open3D's back-projection of a depth image with ``open3d_intrinsic`` equals Cameras.unproject."""
    K = intrinsics_from_fov(60, 32, 24)
    K[0, 2] += 1.3
    cam = Cameras(K[None], look_at(np.array([0.2, -0.1, 0.0]), np.array([0.0, 0.0, 3.0]))[None], 32, 24)
    depth = np.random.default_rng(0).uniform(1, 4, (24, 32)).astype(np.float32)
    pcd = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth), open3d_intrinsic(K, 32, 24), cam.cam_from_world[0], depth_scale=1.0, depth_trunc=100.0)
    j, i = np.meshgrid(np.arange(32) + 0.5, np.arange(24) + 0.5)
    ours = cam.unproject(np.stack([j.ravel(), i.ravel()], 1), depth.reshape(1, -1))[0]
    np.testing.assert_allclose(np.asarray(pcd.points), ours, atol=1e-5)


def test_convention_panorama_views_follow_the_equirect_convention():
    """A panorama painted with a function of direction, cut into views: every view pixel carries
    the function of its own world ray direction (yaw 90 = +x, the right)."""
    Hp = 64
    d = equirect_directions(Hp, 2 * Hp).numpy()
    pano = (0.5 + 0.5 * d).astype(np.float32)[None]  # colour = direction
    cams = Cameras.identity(intrinsics_from_fov(90, 2 * Hp, Hp), 2 * Hp, Hp, 1)
    views, vcams = panorama_views(pano, cams, size=16)
    assert views.shape == (4, 16, 16, 3) and len(vcams) == 4
    j, i = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5)
    pix = np.stack([j.ravel(), i.ravel()], 1)
    for k in range(4):
        rays = vcams[k].unproject(pix, np.ones((1, len(pix))))[0] - vcams.centers[k]
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        np.testing.assert_allclose(views[k].reshape(-1, 3), 0.5 + 0.5 * rays, atol=0.05)
    np.testing.assert_allclose(vcams.R[1] @ np.array([1.0, 0, 0]), [0, 0, 1], atol=1e-9)


# -- MVS -------------------------------------------------------------------------------------------
def test_plane_sweep_depth_is_accurate_and_filter_removes_errors(room):
    cams = room.cameras[:N_FRAMES]
    frames = room.frames[:N_FRAMES]
    nb = select_neighbors(cams, 2.0, 4)
    assert all(r not in nb[r] and len(nb[r]) == 4 for r in range(len(cams)))
    depth, _ = plane_sweep(frames, cams, 0.4, 12.0, neighbors=nb, num_depths=48)
    gt = room.depth[:N_FRAMES]
    rel = np.abs(depth - gt) / gt
    valid = depth > 0
    assert valid.mean() > 0.5
    assert np.median(rel[valid]) < 0.03
    filt, counts = geometric_filter(depth, cams, select_neighbors(cams, 2.0, 6), min_views=3, px_tol=1.5, rel_tol=0.02)
    kept = filt > 0
    assert (counts[kept] >= 2).all()
    assert (np.abs(filt - gt) / gt)[kept].__lt__(0.02).mean() > (rel[valid] < 0.02).mean()


# -- end to end ------------------------------------------------------------------------------------
def test_mvs_reconstruction_matches_ground_truth(mvs_scene, room):
    scene, _ = mvs_scene
    f = _f1(scene, room)
    assert f["precision"] > 0.85 and f["f1"] > 0.55, f
    q = scene.metadata["quality_metrics"]
    assert set(q) == {"completeness", "geometric_consistency", "texture_quality", "multiview_consistency"}
    assert all(0.0 <= v <= 1.0 for v in q.values())
    assert q["completeness"] > 0.5 and q["multiview_consistency"] > 0.5
    assert set(scene.textures) == {"albedo", "normal", "roughness"} and scene.textures["albedo"].shape == (64, 64, 3)
    assert scene.mesh.uvs is not None and scene.mesh.normals is not None
    assert len(scene.point_cloud) > 1000 and scene.point_cloud.normals is not None
    # repeated views are dropped: the three later trajectories start at the input view, and the
    # orbit's last frame closes the loop on its first
    assert scene.metadata["parameters"]["views"] == 4 * N_FRAMES - 4


def test_scene_directory_round_trip(mvs_scene):
    scene, out = mvs_scene
    back = ReconstructedScene.load(out)
    np.testing.assert_array_equal(back.mesh.faces, scene.mesh.faces)
    np.testing.assert_allclose(back.mesh.uvs, scene.mesh.uvs)
    np.testing.assert_allclose(back.textures["albedo"], scene.textures["albedo"])
    assert back.cameras.allclose(scene.cameras)
    assert back.metadata["quality_metrics"] == pytest.approx(scene.metadata["quality_metrics"])
    assert json.loads((out / "metadata.json").read_text())["timings"]["total"] > 0
    assert o3d.io.read_triangle_mesh(str(out / "mesh.ply")).has_triangles()


def test_neural_and_hybrid_are_close_to_mvs(room, mvs_scene):
    base = _f1(mvs_scene[0], room)["f1"]
    for method in ("neural", "hybrid"):
        cfg = ReconstructionConfig(method=method, resolution=W, neural_iterations=80, neural_mesh_resolution=96,
                                   bake_textures=False)
        scene = reconstruct_scene(_videos(room), room.trajectories, None, config=cfg)
        f = _f1(scene, room)
        assert f["f1"] > base - 0.1, (method, f, base)
        assert scene.textures == {} and scene.mesh.colors is not None


def test_hybrid_keeps_the_photo_consistent_depth_per_pixel(room):
    """The true depth agrees across views better than a wrong one; per pixel the hybrid keeps the true
    of two candidates, whichever of MVS or the neural surface holds it, and drops what neither explains."""
    from worldstereo.reconstruction.hybrid import hybrid_depth, photo_scores
    from worldstereo.reconstruction.result import Mesh

    cams, frames, gt = room.cameras[:N_FRAMES], room.frames[:N_FRAMES], room.depth[:N_FRAMES]
    truth = photo_scores(gt[2], 2, frames, cams, gt)
    wrong = photo_scores(1.15 * gt[2], 2, frames, cams, gt)
    assert truth[truth > 0].mean() > 0.8 and truth.mean() > wrong.mean() + 0.2
    # the neural surface is the true mesh; the MVS depth is right on the left half of each view, 15 % too
    # far on the right half, and missing in a band the hybrid must fill from the neural surface
    o3 = room.mesh
    neural = Mesh(np.asarray(o3.vertices), np.asarray(o3.triangles))
    mvs = gt.copy()
    mvs[..., W // 2:] *= 1.15
    mvs[:, :4] = 0
    out = hybrid_depth(mvs.astype(np.float32), neural, frames, cams, min_score=0.5)
    kept = out > 0
    assert kept.mean() > 0.8
    assert (np.abs(out - gt) / gt)[kept].__lt__(0.01).mean() > 0.95
    assert kept[:, :4].mean() > 0.8  # the MVS gap is filled
    assert not hybrid_depth(np.zeros_like(mvs), Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64)), frames, cams).any()


def test_explicit_arguments_override_config(room):
    cfg = ReconstructionConfig(method="neural", point_cloud_density="low", mvs_num_depths=24, bake_textures=False)
    cams = room.cameras[:N_FRAMES]
    scene = reconstruct_scene(room.frames[:N_FRAMES], cams, None, method="mvs", resolution=40, config=cfg)
    p = scene.metadata["parameters"]
    assert p["method"] == "mvs" and p["point_cloud_density"] == "low" and p["mvs_num_depths"] == 24
    assert p["image_size"] == [40, 30]


def test_run_directory_uses_cache_prior(room, tmp_path):
    """A pipeline run directory (DESIGN §6): trajectories/<name>/{frames, cameras.json} + cache.ply."""
    import imageio.v3 as iio

    run = tmp_path / "run"
    for k, traj in enumerate(room.trajectories[:2]):
        d = run / "trajectories" / traj.name / "frames"
        d.mkdir(parents=True)
        for i in range(N_FRAMES):
            iio.imwrite(d / f"{i:04d}.png", (room.frames[k * N_FRAMES + i] * 255 + 0.5).astype(np.uint8))
        save_trajectory(traj, d.parent / "cameras.json")
    cache = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(room.gt_points[::20]))
    o3d.io.write_point_cloud(str(run / "cache.ply"), cache)
    fs = load_inputs(run, None, resolution=W)
    assert len(fs.frames) == 2 * N_FRAMES and fs.cache_points is not None and set(fs.segment) == {0, 1}
    cfg = ReconstructionConfig(method="mvs", resolution=48, mvs_num_depths=8, bake_textures=False)  # see below
    with_prior = reconstruct_scene(run, None, None, config=cfg)
    without = reconstruct_scene(run, None, None, config=cfg.replace(depth_estimation=False))
    assert with_prior.metadata["parameters"]["used_cache_prior"] and not without.metadata["parameters"]["used_cache_prior"]
    # with only 8 depth planes over the default range stereo is coarse; the cache's per-view
    # ranges (and its photo-consistent depths where stereo fails) make up for it
    f_with, f_without = _f1(with_prior, room), _f1(without, room)
    assert f_with["f1"] > f_without["f1"] + 0.1, (f_with, f_without)


# -- inputs and errors -----------------------------------------------------------------------------
def test_video_file_and_png_folder_inputs(room, tmp_path):
    import imageio.v3 as iio

    frames = (room.frames[:N_FRAMES] * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "v.mp4", frames, fps=8, codec="libx264", macro_block_size=1)
    got = read_frames(tmp_path / "v.mp4")
    assert got.shape == (N_FRAMES, H, W, 3) and got.dtype == np.float32
    assert np.abs(got - room.frames[:N_FRAMES]).mean() < 0.1  # lossy codec, same pictures
    (tmp_path / "f").mkdir()
    for i, f in enumerate(frames):
        iio.imwrite(tmp_path / "f" / f"{i:03d}.png", f)
    np.testing.assert_allclose(read_frames(tmp_path / "f"), frames / 255.0, atol=1e-6)


def test_bad_inputs_raise_clear_errors(room, tmp_path):
    traj = room.trajectories[0]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reconstruct_scene(tmp_path / "missing.mp4", traj, None, method="mvs")
    with pytest.raises(ValueError, match="frames but the trajectory has"):
        reconstruct_scene(room.frames[:N_FRAMES - 2], traj, None, method="mvs")
    with pytest.raises(ValueError, match="method: 'poisson' is not one of"):
        reconstruct_scene(room.frames[:N_FRAMES], traj, None, method="poisson")
    with pytest.raises(ValueError, match="point_cloud_density"):
        reconstruct_scene(room.frames[:N_FRAMES], traj, None, point_cloud_density="ultra")
    with pytest.raises(ValueError, match="trajectories for"):
        reconstruct_scene(_videos(room), room.trajectories[:3], None, method="mvs")
    (tmp_path / "x.txt").write_text("not a video")
    with pytest.raises(ValueError, match="unsupported video type"):
        read_frames(tmp_path / "x.txt")


def test_config_rejects_unknown_and_bad_options():
    with pytest.raises(ValueError, match="unknown option.*neural_iters.*valid:.*neural_iterations"):
        ReconstructionConfig(neural_iters=5)
    with pytest.raises(ValueError, match="power of two"):
        ReconstructionConfig(texture_resolution=1000)
    with pytest.raises(ValueError, match="method"):
        ReconstructionConfig(method="nerf")
    with pytest.raises(ValueError, match="mvs_min_views"):
        ReconstructionConfig(mvs_min_views=1)
    cfg = ReconstructionConfig(method="hybrid", resolution=1024, depth_estimation=True, point_cloud_density="high",
                               neural_iterations=10000, neural_batch_size=8192, mvs_min_views=3,
                               mvs_geometric_consistency=True, mesh_cleanup=True, outlier_removal=True,
                               smoothing_iterations=5)
    assert cfg.replace(resolution=256).resolution == 256
    with pytest.raises(ValueError, match="unknown option"):
        cfg.replace(resolutoin=256)


def test_noise_texture_is_view_independent():
    """The test scene is Lambertian: one colour per surface point (what the metrics assume)."""
    tex = NoiseTexture(0)
    p = np.random.default_rng(1).uniform(-1, 4, (100, 3))
    np.testing.assert_array_equal(tex(p), tex(p.copy()))
    assert tex(p).std() > 0.15


def test_views_from_one_centre_are_never_stereo_sources(room):
    """A pan (every camera at one centre) has no parallax: its views get no sources and no stereo depth,
    a view never lists itself, and a view with parallax keeps up to k sources even when few see its centre."""
    cams = room.cameras[:4]
    T = []
    for a in (0.0, 10.0, 20.0):
        yaw = np.eye(4)
        c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
        yaw[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        T.append(yaw @ cams.cam_from_world[0])
    pan = Cameras(cams.K[:3], np.stack(T), cams.width, cams.height)
    both = Cameras.concat([pan, cams[1:2]])
    nb = select_neighbors(both, 2.0, 3)
    assert all(r not in nb[r] for r in range(len(both)))
    assert all(set(nb[r]) <= {3} for r in range(3))  # the pan's views: only the camera elsewhere
    assert set(nb[3]) <= {0, 1, 2} and len(nb[3]) >= 1
    alone = select_neighbors(pan, 2.0, 2)
    assert all(len(n) == 0 for n in alone)
    depth, _ = plane_sweep(room.frames[:3], pan, 0.4, 12.0, neighbors=alone, num_depths=8)
    assert not depth.any()


def test_grow_consistent_recovers_supported_pixels_only():
    from worldstereo.reconstruction.mvs import grow_consistent

    raw = np.full((1, 6, 6), 2.0, np.float32)
    raw[0, 0, 5] = 5.0  # an outlier in the corner
    kept = raw.copy()
    kept[0, 2:4, 2:4] = 0  # a hole of consistent raw depths
    kept[0, 0, 5] = 0
    out = grow_consistent(raw, kept)
    assert (out[0, 2:4, 2:4] == 2.0).all()
    assert out[0, 0, 5] == 0


def test_panoramic_input_reconstructs_the_room(room):
    """Equirectangular frames along the orbit, cut into perspective views, reconstruct the room."""
    from recon_scenes import render_panoramas

    traj = room.trajectories[0]
    idx = np.arange(0, N_FRAMES - 1)
    cams = traj.cameras[idx]
    panos = render_panoramas(cams, height=128)
    cfg = ReconstructionConfig(method="mvs", resolution=64, mvs_num_depths=32, bake_textures=False)
    scene = reconstruct_scene(panos, cams, None, config=cfg, panoramic_input=True)
    assert scene.metadata["parameters"]["views"] == 4 * len(idx)
    # the panoramas also see the walls behind the perspective trajectories: measure precision
    # against the whole room surface
    o3d.utility.random.seed(0)
    pts = np.asarray(scene.mesh.to_open3d().sample_points_uniformly(50000).points)
    surface = np.asarray(room.mesh.sample_points_uniformly(400000).points)
    f = f1_score(pts, surface, 0.01 * room.diagonal)
    assert f["precision"] > 0.7, f
    # every kept depth is confirmed by two other views (mvs_min_views=3; a view never checks itself)
    assert f["f1"] > 0.45, f
    assert scene.metadata["quality_metrics"]["completeness"] > 0.45
