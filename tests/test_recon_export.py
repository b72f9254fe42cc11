"""Every export read back by an independent reader: trimesh / pygltflib (glTF, GLB), pxr (USD),
ufbx (FBX), laspy (LAS), Open3D (PLY, PCD, XYZ); vertex counts, colours, normals and textures."""

import base64
import ctypes
import io
import json

import numpy as np
import open3d as o3d
import pytest
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from worldstereo.camera import Cameras, intrinsics_from_fov
from worldstereo.reconstruction import (MESH_FORMATS, Mesh, PointCloud, ReconstructedScene, export_mesh,
                                        export_point_cloud)
from worldstereo.reconstruction.textures import uv_atlas

T = 64


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    ico = trimesh.creation.icosphere(2)
    mesh = uv_atlas(Mesh(ico.vertices, ico.faces, ico.vertex_normals, rng.uniform(0, 1, (len(ico.vertices), 3))), T)
    tex = {
        "albedo": rng.uniform(0, 1, (T, T, 3)).astype(np.float32),
        "normal": np.tile(np.array([0.5, 0.5, 1.0], np.float32), (T, T, 1)),
        "roughness": np.full((T, T), 0.6, np.float32),
    }
    n = rng.normal(size=(300, 3))
    pc = PointCloud(rng.normal(size=(300, 3)) * 3, rng.uniform(0, 1, (300, 3)), n / np.linalg.norm(n, axis=1, keepdims=True))
    cams = Cameras.identity(intrinsics_from_fov(60, 32, 24), 32, 24, 1)
    return ReconstructedScene(mesh, pc, cams, tex)


def _same_points(a, b, tol=1e-5):
    return len(a) and cKDTree(b).query(a)[0].max() < tol


def test_obj_textured_read_by_trimesh(scene, tmp_path):
    p = export_mesh(scene, tmp_path / "s.obj", format="obj", texture_resolution=32)
    tm = trimesh.load(p, process=False)
    assert len(tm.vertices) == len(scene.mesh.vertices) and len(tm.faces) == len(scene.mesh.faces)
    np.testing.assert_allclose(tm.vertices, scene.mesh.vertices, atol=1e-6)
    np.testing.assert_allclose(tm.visual.uv, scene.mesh.uvs, atol=1e-5)
    np.testing.assert_allclose(tm.vertex_normals, scene.mesh.normals, atol=1e-4)
    img = tm.visual.material.image
    assert img.size == (32, 32)
    assert (tmp_path / "s_normal.png").is_file() and (tmp_path / "s_roughness.png").is_file()


def test_obj_vertex_colours_without_textures(scene, tmp_path):
    p = export_mesh(scene, tmp_path / "c.obj", format="obj", include_textures=False)
    tm = trimesh.load(p, process=False)
    assert len(tm.vertices) == len(scene.mesh.vertices)
    np.testing.assert_allclose(tm.visual.vertex_colors[:, :3] / 255.0, scene.mesh.colors, atol=1 / 255 + 1e-3)
    assert not (tmp_path / "c.mtl").exists()


def test_ply_read_by_open3d(scene, tmp_path):
    p = export_mesh(scene, tmp_path / "s.ply", format="ply")
    m = o3d.io.read_triangle_mesh(str(p))
    assert len(m.vertices) == len(scene.mesh.vertices) and len(m.triangles) == len(scene.mesh.faces)
    np.testing.assert_allclose(np.asarray(m.vertex_colors), scene.mesh.colors, atol=1 / 255 + 1e-3)
    np.testing.assert_allclose(np.asarray(m.vertex_normals), scene.mesh.normals, atol=1e-4)


def _gltf_checks(g, blob: bytes, scene):
    prim = g.meshes[0].primitives[0]
    assert g.accessors[prim.attributes.POSITION].count == len(scene.mesh.vertices)
    assert g.accessors[prim.attributes.NORMAL].count == len(scene.mesh.vertices)
    assert g.accessors[prim.attributes.TEXCOORD_0].count == len(scene.mesh.vertices)
    assert g.accessors[prim.indices].count == 3 * len(scene.mesh.faces)
    mat = g.materials[prim.material]
    assert mat.pbrMetallicRoughness.baseColorTexture is not None
    assert mat.pbrMetallicRoughness.metallicRoughnessTexture is not None
    assert mat.normalTexture is not None
    # position bytes decode to our vertices
    acc = g.accessors[prim.attributes.POSITION]
    view = g.bufferViews[acc.bufferView]
    pos = np.frombuffer(blob, np.float32, acc.count * 3, view.byteOffset + (acc.byteOffset or 0)).reshape(-1, 3)
    np.testing.assert_allclose(pos, scene.mesh.vertices, atol=1e-6)


def test_glb_read_by_pygltflib_and_trimesh(scene, tmp_path):
    import pygltflib

    p = export_mesh(scene, tmp_path / "s.glb", format="glb", texture_resolution=32)
    g = pygltflib.GLTF2().load(str(p))
    _gltf_checks(g, g.binary_blob(), scene)
    tm = trimesh.load(p, force="mesh", process=False)
    assert len(tm.vertices) == len(scene.mesh.vertices)
    assert tm.visual.material.baseColorTexture.size == (32, 32)
    # glTF's v axis points down: trimesh converts back to our v-up convention
    np.testing.assert_allclose(tm.visual.uv, scene.mesh.uvs, atol=1e-5)


def test_gltf_is_self_contained(scene, tmp_path):
    import pygltflib

    p = export_mesh(scene, tmp_path / "s.gltf", format="gltf", texture_resolution=16)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.gltf"]
    doc = json.loads(p.read_text())
    assert all(b["uri"].startswith("data:") for b in doc["buffers"])
    g = pygltflib.GLTF2().load(str(p))
    blob = base64.b64decode(g.buffers[0].uri.split(",", 1)[1])
    _gltf_checks(g, blob, scene)
    img = g.images[g.textures[g.materials[0].pbrMetallicRoughness.baseColorTexture.index].source]
    data = base64.b64decode(img.uri.split(",", 1)[1]) if img.uri else blob[g.bufferViews[img.bufferView].byteOffset:][:g.bufferViews[img.bufferView].byteLength]
    assert Image.open(io.BytesIO(data)).size == (16, 16)


def _ufbx_doubles(a: np.ndarray) -> np.ndarray:
    """pyufbx 0.0.7 exposes ufbx's double arrays as float32 views of the same memory (a binding
    bug); read the memory as the doubles it holds (valid while the scene is open)."""
    ptr = a.__array_interface__["data"][0]
    return np.ctypeslib.as_array((ctypes.c_double * a.size).from_address(ptr)).reshape(a.shape).copy()


def test_fbx_read_by_ufbx(scene, tmp_path):
    import ufbx

    p = export_mesh(scene, tmp_path / "s.fbx", format="fbx", texture_resolution=32)
    s = ufbx.load_file(str(p))
    m = s.meshes[0]
    assert m.num_faces == len(scene.mesh.faces)
    pos = _ufbx_doubles(m.vertex_positions)
    # assimp un-shares vertices per face corner: same points, 3 per face
    assert len(pos) == 3 * len(scene.mesh.faces)
    assert _same_points(pos, scene.mesh.vertices) and _same_points(scene.mesh.vertices, pos)
    nrm = _ufbx_doubles(m.vertex_normals)
    assert np.allclose(np.linalg.norm(nrm, axis=1), 1, atol=1e-3)
    # every corner normal is the normal of the vertex at that position
    _, idx = cKDTree(scene.mesh.vertices).query(pos)
    np.testing.assert_allclose(nrm, scene.mesh.normals[idx], atol=1e-3)
    names = {t.relative_filename for t in s.textures}
    assert "s_albedo.png" in names and "s_normal.png" in names
    assert Image.open(tmp_path / "s_albedo.png").size == (32, 32)


@pytest.mark.parametrize("suffix", [".usda", ".usdc", ".usdz"])
def test_usd_read_by_pxr(scene, tmp_path, suffix):
    from pxr import Usd, UsdGeom, UsdShade

    p = export_mesh(scene, tmp_path / f"s{suffix}", format="usd", texture_resolution=32)
    stage = Usd.Stage.Open(str(p))
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/World/scene"))
    pts = np.asarray(mesh.GetPointsAttr().Get())
    assert len(pts) == len(scene.mesh.vertices)
    np.testing.assert_allclose(pts, scene.mesh.vertices, atol=1e-6)
    np.testing.assert_allclose(np.asarray(mesh.GetNormalsAttr().Get()), scene.mesh.normals, atol=1e-6)
    pv = UsdGeom.PrimvarsAPI(mesh)
    np.testing.assert_allclose(np.asarray(pv.GetPrimvar("st").Get()), scene.mesh.uvs, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pv.GetPrimvar("displayColor").Get()), scene.mesh.colors, atol=1e-6)
    mat, _ = UsdShade.MaterialBindingAPI(mesh.GetPrim()).ComputeBoundMaterial()
    surface = mat.ComputeSurfaceSource()[0]
    assert surface.GetIdAttr().Get() == "UsdPreviewSurface"
    files = {}
    for name in ("diffuseColor", "normal", "roughness"):
        src = surface.GetInput(name).GetConnectedSources()[0][0].source
        files[name] = UsdShade.Shader(src.GetPrim()).GetInput("file").Get().path
    assert files["diffuseColor"].endswith("s_albedo.png") and files["normal"].endswith("s_normal.png")
    if suffix == ".usdz":
        import zipfile

        assert any(n.endswith("s_albedo.png") for n in zipfile.ZipFile(p).namelist())
    else:
        assert Image.open(tmp_path / "s_albedo.png").size == (32, 32)


@pytest.mark.parametrize("fmt", ["ply", "pcd"])
def test_point_cloud_ply_pcd_read_by_open3d(scene, tmp_path, fmt):
    p = export_point_cloud(scene, tmp_path / f"p.{fmt}", format=fmt)
    pc = o3d.io.read_point_cloud(str(p))
    np.testing.assert_allclose(np.asarray(pc.points), scene.point_cloud.points, atol=1e-5)
    np.testing.assert_allclose(np.asarray(pc.colors), scene.point_cloud.colors, atol=1 / 255 + 1e-3)
    np.testing.assert_allclose(np.asarray(pc.normals), scene.point_cloud.normals, atol=1e-5)


def test_point_cloud_without_normals_or_colours(scene, tmp_path):
    p = export_point_cloud(scene, tmp_path / "p.ply", format="ply", include_colors=False, include_normals=False)
    pc = o3d.io.read_point_cloud(str(p))
    assert len(pc.points) == len(scene.point_cloud) and not pc.has_colors() and not pc.has_normals()


def test_xyz_read_by_open3d_and_numpy(scene, tmp_path):
    p = export_point_cloud(scene, tmp_path / "p.xyz", format="xyz", include_normals=False)
    pc = o3d.io.read_point_cloud(str(p), format="xyzrgb")
    np.testing.assert_allclose(np.asarray(pc.points), scene.point_cloud.points, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pc.colors), scene.point_cloud.colors, atol=1e-6)
    p = export_point_cloud(scene, tmp_path / "q.xyz", format="xyz", include_colors=False)
    pc = o3d.io.read_point_cloud(str(p), format="xyzn")
    np.testing.assert_allclose(np.asarray(pc.normals), scene.point_cloud.normals, atol=1e-6)
    full = np.loadtxt(export_point_cloud(scene, tmp_path / "r.xyz", format="xyz"))
    assert full.shape == (len(scene.point_cloud), 9)


def test_las_read_by_laspy(scene, tmp_path):
    import laspy

    p = export_point_cloud(scene, tmp_path / "p.las", format="las")
    las = laspy.read(str(p))
    assert las.header.point_count == len(scene.point_cloud)
    xyz = np.stack([las.x, las.y, las.z], 1)
    np.testing.assert_allclose(xyz, scene.point_cloud.points, atol=1e-5)
    rgb = np.stack([las.red, las.green, las.blue], 1) / 65535.0
    np.testing.assert_allclose(rgb, scene.point_cloud.colors, atol=1e-4)
    nrm = np.stack([las.NormalX, las.NormalY, las.NormalZ], 1)
    np.testing.assert_allclose(nrm, scene.point_cloud.normals, atol=1e-6)


def test_bad_export_arguments(scene, tmp_path):
    with pytest.raises(ValueError, match="not a mesh format"):
        export_mesh(scene, tmp_path / "s.stl", format="stl")
    with pytest.raises(ValueError, match="power of two"):
        export_mesh(scene, tmp_path / "s.obj", format="obj", texture_resolution=1000)
    with pytest.raises(ValueError, match="not a point-cloud format"):
        export_point_cloud(scene, tmp_path / "p.e57", format="e57")
    with pytest.raises(ValueError, match="usda, .usdc or .usdz"):
        export_mesh(scene, tmp_path / "s.usd", format="usd")
    assert set(MESH_FORMATS) == {"obj", "ply", "gltf", "glb", "fbx", "usd"}
