"""refine_mesh, optimize_textures, quality metrics and the reconstruct / export CLI."""

import json

import numpy as np
import open3d as o3d
import pytest
import torch
import trimesh
from typer.testing import CliRunner

from recon_scenes import NoiseTexture, make_scene
from worldstereo.cli import app
from worldstereo.reconstruction import Mesh, PointCloud, ReconstructedScene, optimize_textures, quality_metrics, refine_mesh
from worldstereo.reconstruction.raycast import MeshCaster
from worldstereo.reconstruction.refine import boundary_loops
from worldstereo.reconstruction.result import cloud_from_open3d, cloud_to_open3d


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def room():
    return make_scene(64, 48, 5)


def _sphere(subdiv=3, centre=(0, 0, 0), r=1.0):
    s = trimesh.creation.icosphere(subdiv, radius=r)
    return Mesh(s.vertices + np.asarray(centre), s.faces)


def test_refine_removes_floaters_and_fills_holes():
    big, small = _sphere(3), _sphere(0, centre=(5, 0, 0), r=0.1)
    faces = big.faces[1:]  # punch a one-triangle hole
    mesh = Mesh(np.concatenate([big.vertices, small.vertices]), np.concatenate([faces, small.faces + len(big.vertices)]),
                colors=np.full((len(big.vertices) + len(small.vertices), 3), 0.3))
    assert len(boundary_loops(mesh.faces)) == 1
    out = refine_mesh(mesh)
    assert out.vertices[:, 0].max() < 1.5  # the floater is gone
    assert boundary_loops(out.faces) == []  # the hole is closed
    assert trimesh.Trimesh(out.vertices, out.faces, process=False).is_watertight
    np.testing.assert_allclose(np.linalg.norm(out.normals, axis=1), 1, atol=1e-4)
    assert out.colors is not None and np.allclose(out.colors, 0.3)
    kept = refine_mesh(mesh, remove_outliers=False, fill_holes=False)
    assert len(kept.vertices) == len(mesh.vertices)


def test_refine_simplify_hits_the_ratio_and_keeps_the_shape():
    mesh = _sphere(4)
    out = refine_mesh(mesh, simplify=0.25)
    assert 0.15 < len(out.faces) / len(mesh.faces) < 0.35
    r = np.linalg.norm(out.vertices, axis=1)
    assert np.abs(r - 1).max() < 0.02
    with pytest.raises(ValueError, match="simplify"):
        refine_mesh(mesh, simplify=1.5)


def test_smoothed_normals_point_outward():
    mesh = _sphere(3)
    out = refine_mesh(mesh, remove_outliers=False, fill_holes=False)
    cos = (out.normals * out.vertices / np.linalg.norm(out.vertices, axis=1, keepdims=True)).sum(1)
    assert cos.min() > 0.99


def _gt_scene(room) -> ReconstructedScene:
    m = room.mesh.subdivide_midpoint(2)
    mesh = Mesh(np.asarray(m.vertices), np.asarray(m.triangles)).compute_normals()
    return ReconstructedScene(mesh, PointCloud(np.zeros((1, 3))), room.cameras, {}, {}, room.frames)


def test_textures_bake_the_true_colours(room):
    scene = optimize_textures(_gt_scene(room), texture_resolution=256, enhance_details=False, max_faces=10**6)
    tex, mesh = scene.textures, scene.mesh
    assert tex["albedo"].shape == (256, 256, 3) and tex["normal"].shape == (256, 256, 3) and tex["roughness"].shape == (256, 256)
    assert mesh.uvs is not None and mesh.uvs.min() >= 0 and mesh.uvs.max() <= 1
    # look up the albedo at the UVs of random surface points and compare with the scene's colour field
    rng = np.random.default_rng(0)
    f = rng.integers(0, len(mesh.faces), 4000)
    b = rng.dirichlet(np.ones(3), len(f))
    pts = (mesh.vertices[mesh.faces[f]] * b[..., None]).sum(1)
    uv = (mesh.uvs[mesh.faces[f]] * b[..., None]).sum(1)
    col = tex["albedo"][np.clip(((1 - uv[:, 1]) * 256).astype(int), 0, 255), np.clip((uv[:, 0] * 256).astype(int), 0, 255)]
    seen = MeshCaster(mesh).render(room.cameras)
    visible_faces = np.unique(seen.face[seen.face >= 0])
    on = np.isin(f, visible_faces)
    err = np.abs(col - NoiseTexture(0)(pts)).mean(1)[on]
    assert np.median(err) < 0.06, np.median(err)
    # the atlas mesh is the full mesh here: its own normals, so the tangent-space map is flat
    n = tex["normal"].reshape(-1, 3) * 2 - 1
    assert np.median(n[:, 2]) > 0.98
    # a Lambertian scene has no view-dependent colour: rough everywhere
    assert np.median(tex["roughness"]) > 0.8


def test_texture_options(room):
    scene = _gt_scene(room)
    big = optimize_textures(scene, super_resolution=True, seam_blending=False, enhance_details=True, texture_resolution=64)
    assert big.textures["albedo"].shape == (128, 128, 3)
    assert big.metadata["textures"]["super_resolution"] == "lanczos4_2x"
    with pytest.raises(ValueError, match="power of two"):
        optimize_textures(scene, texture_resolution=100)
    with pytest.raises(ValueError, match="no frames"):
        optimize_textures(ReconstructedScene(scene.mesh, scene.point_cloud, scene.cameras))


def test_quality_metrics_of_the_true_mesh_and_a_broken_one(room):
    scene = _gt_scene(room)
    mesh = scene.mesh
    mesh.colors = NoiseTexture(0)(mesh.vertices).astype(np.float32)
    good = quality_metrics(mesh, room.frames, room.cameras, room.depth)
    assert good["completeness"] == pytest.approx(1.0)
    assert good["geometric_consistency"] > 0.97
    assert good["multiview_consistency"] > 0.85
    shifted = Mesh(mesh.vertices + np.array([0.0, 0.0, 0.3]), mesh.faces, colors=mesh.colors)
    bad = quality_metrics(shifted, room.frames, room.cameras, room.depth)
    assert bad["geometric_consistency"] < good["geometric_consistency"] - 0.3
    assert bad["multiview_consistency"] < good["multiview_consistency"]
    assert all(0 <= v <= 1 for v in {**good, **bad}.values())


def test_cli_reconstruct_and_export(room, tmp_path):
    import imageio.v3 as iio

    from worldstereo.camera import save_trajectory

    traj = room.trajectories[1]
    frames = room.frames[5:10]
    (tmp_path / "f").mkdir()
    for i, f in enumerate(frames):
        iio.imwrite(tmp_path / "f" / f"{i:03d}.png", (f * 255 + 0.5).astype(np.uint8))
    save_trajectory(traj, tmp_path / "t.json")
    runner = CliRunner()
    res = runner.invoke(app, ["reconstruct", str(tmp_path / "f"), "--trajectory", str(tmp_path / "t.json"), "--method", "mvs",
                              "--resolution", "64", "--texture-resolution", "64", "-o", str(tmp_path / "scene")])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "scene" / "metadata.json").read_text())
    assert meta["parameters"]["method"] == "mvs" and meta["parameters"]["resolution"] == 64
    res = runner.invoke(app, ["export", str(tmp_path / "scene"), "--mesh", "glb", "--points", "las", "--texture-resolution", "32"])
    assert res.exit_code == 0, res.output
    tm = trimesh.load(tmp_path / "scene" / "export" / "mesh.glb", force="mesh")
    assert len(tm.vertices) > 0 and tm.visual.material.baseColorTexture.size == (32, 32)
    import laspy

    assert laspy.read(str(tmp_path / "scene" / "export" / "points.las")).header.point_count > 0
    res = runner.invoke(app, ["export", str(tmp_path / "scene"), "--mesh", "stl"])
    assert res.exit_code == 2 and "not one of" in res.output
    res = runner.invoke(app, ["reconstruct", str(tmp_path / "nope.mp4"), "--trajectory", str(tmp_path / "t.json"), "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "f")])
    assert res.exit_code == 2


def test_open3d_helpers_round_trip():
    pc = PointCloud(np.random.default_rng(0).normal(size=(50, 3)), np.full((50, 3), 0.5), np.tile([0, 0, 1.0], (50, 1)))
    back = cloud_from_open3d(cloud_to_open3d(pc))
    np.testing.assert_allclose(back.points, pc.points)
    np.testing.assert_allclose(back.colors, pc.colors)
    np.testing.assert_allclose(back.normals, pc.normals)
    assert isinstance(cloud_to_open3d(pc), o3d.geometry.PointCloud)
