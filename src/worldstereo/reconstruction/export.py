"""export_mesh (obj, ply, gltf, glb, fbx, usd) and export_point_cloud (ply, pcd, xyz, las).

- obj: ``.obj`` + ``.mtl`` + ``<stem>_albedo.png`` (map_Kd); vertex colours when not textured.
- ply: binary PLY with vertex normals and colours (PLY has no standard texture reference).
- gltf / glb: glTF 2.0 (trimesh), PBR material (baseColor, normal, metallicRoughness with
  roughness in G and metallic 0 in B); ``.gltf`` is self-contained (buffers and images as data URIs).
- fbx: the glTF written to a temporary folder and converted by the ``assimp`` tool of
  ``cmeel-assimp`` (Debian's assimp writes FBX files nothing can read); textures are copied beside.
- usd: ``.usda`` / ``.usdc`` (textures beside the file) or ``.usdz`` (packaged) through ``pxr``,
  a ``UsdGeom.Mesh`` with normals, ``displayColor`` and ``st`` and a ``UsdPreviewSurface`` material.
- Point clouds: ply / pcd by Open3D; xyz as text columns ``x y z [r g b] [nx ny nz]`` (colours in
  [0, 1], readable by Open3D as ``xyzrgb`` / ``xyzn`` when only one group is present); las 1.4
  point format 7 (16-bit RGB) with extra dimensions ``NormalX/Y/Z`` (laspy).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from ..atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .result import PointCloud, ReconstructedScene, cloud_to_open3d

log = logging.getLogger(__name__)

MESH_FORMATS = ("obj", "ply", "gltf", "glb", "fbx", "usd")
POINT_FORMATS = ("ply", "pcd", "xyz", "las")
USD_SUFFIXES = (".usda", ".usdc", ".usdz")


def _png(img: np.ndarray) -> bytes:
    """8-bit PNG bytes of an image in [0, 1] (H, W) or (H, W, 3)."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), extension=".png")


def _textures(scene: ReconstructedScene, resolution: int) -> Optional[dict[str, np.ndarray]]:
    """The scene's maps resampled to ``resolution`` (None when the scene has no atlas)."""
    if scene.textures.get("albedo") is None or scene.mesh.uvs is None:
        log.warning("scene has no texture atlas; exporting vertex colours (run optimize_textures first)")
        return None
    out = {}
    for name, img in scene.textures.items():
        interp = cv2.INTER_AREA if img.shape[0] > resolution else cv2.INTER_LANCZOS4
        out[name] = cv2.resize(img, (resolution, resolution), interpolation=interp).clip(0, 1)
    out.setdefault("normal", np.tile(np.array([0.5, 0.5, 1.0], np.float32), (resolution, resolution, 1)))
    out.setdefault("roughness", np.ones((resolution, resolution), np.float32))
    return out


def _metallic_roughness(rough: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(rough), rough, np.zeros_like(rough)], -1)


def _trimesh(scene: ReconstructedScene, maps: Optional[dict]):
    import trimesh
    from PIL import Image

    m = scene.mesh
    tm = trimesh.Trimesh(m.vertices, m.faces, vertex_normals=m.normals, process=False)
    if maps is not None:
        as_img = lambda a: Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))  # noqa: E731
        mat = trimesh.visual.material.PBRMaterial(
            name="worldstereo", baseColorTexture=as_img(maps["albedo"]), normalTexture=as_img(maps["normal"]),
            metallicRoughnessTexture=as_img(_metallic_roughness(maps["roughness"])), metallicFactor=0.0, roughnessFactor=1.0,
        )
        tm.visual = trimesh.visual.TextureVisuals(uv=m.uvs, material=mat)
    elif m.colors is not None:
        tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=(np.clip(m.colors, 0, 1) * 255 + 0.5).astype(np.uint8))
    return tm


def _export_obj(scene: ReconstructedScene, path: Path, maps: Optional[dict]) -> None:
    m = scene.mesh
    lines = ["# worldstereo reconstruction"]
    tex = f"{path.stem}_albedo.png"
    if maps is not None:
        lines += [f"mtllib {path.stem}.mtl", "usemtl worldstereo"]
    cols = m.colors if (maps is None and m.colors is not None) else None
    lines += [f"v {x:.7g} {y:.7g} {z:.7g}" + ("" if cols is None else " {:.4f} {:.4f} {:.4f}".format(*cols[i]))
              for i, (x, y, z) in enumerate(m.vertices)]
    if m.normals is not None:
        lines += ["vn {:.5f} {:.5f} {:.5f}".format(*n) for n in m.normals]
    if maps is not None:
        lines += ["vt {:.6f} {:.6f}".format(*t) for t in m.uvs]
    f = m.faces + 1
    if maps is not None and m.normals is not None:
        lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in f]
    elif maps is not None:
        lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in f]
    elif m.normals is not None:
        lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in f]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in f]
    if maps is not None:
        atomic_write_bytes(path.with_name(tex), _png(maps["albedo"]))
        atomic_write_bytes(path.with_name(f"{path.stem}_normal.png"), _png(maps["normal"]))
        atomic_write_bytes(path.with_name(f"{path.stem}_roughness.png"), _png(maps["roughness"]))
        atomic_write_text(path.with_suffix(".mtl"), "\n".join([
            "newmtl worldstereo", "Ka 1 1 1", "Kd 1 1 1", "Ks 0 0 0", "illum 1", f"map_Kd {tex}",
            f"norm {path.stem}_normal.png", f"map_Pr {path.stem}_roughness.png"]) + "\n")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _export_gltf(scene: ReconstructedScene, path: Path, maps: Optional[dict], binary: bool) -> None:
    from trimesh.exchange.gltf import export_glb, export_gltf

    tm = _trimesh(scene, maps)
    if binary:
        atomic_write_bytes(path, export_glb(tm))
    else:
        files = export_gltf(tm, embed_buffers=True, merge_buffers=True)
        atomic_write_bytes(path, files["model.gltf"])


def _assimp() -> list[str]:
    """Command of cmeel-assimp's ``assimp`` tool (the venv wrapper, else the cmeel prefix binary)."""
    for cand in (Path(sys.prefix) / "bin" / "assimp", Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "bin" / "assimp"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand)]
    raise ValueError("format 'fbx' needs the assimp tool of cmeel-assimp: pip install cmeel-assimp")


def _export_fbx(scene: ReconstructedScene, path: Path, maps: Optional[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # the temporary OBJ takes the final stem so the FBX names the texture files we write beside it
        src = Path(tmp) / f"{path.stem}.obj"
        _export_obj(scene, src, maps)
        out = Path(tmp) / "out.fbx"
        res = subprocess.run([*_assimp(), "export", str(src), str(out), "-f", "fbx"], capture_output=True, text=True)
        if res.returncode != 0 or not out.is_file():
            raise RuntimeError(f"assimp failed to write FBX: {(res.stderr or res.stdout).strip()[-300:]}")
        if maps is not None:
            for name in ("albedo", "normal", "roughness"):
                fname = f"{path.stem}_{name}.png"
                atomic_write_bytes(path.with_name(fname), (Path(tmp) / fname).read_bytes())
        atomic_write_bytes(path, out.read_bytes())


def _export_usd(scene: ReconstructedScene, path: Path, maps: Optional[dict]) -> None:
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

    suffix = path.suffix.lower()
    if suffix not in USD_SUFFIXES:
        raise ValueError(f"{path}: USD export needs a .usda, .usdc or .usdz file name")
    m = scene.mesh
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp) / (path.stem + (".usdc" if suffix == ".usdz" else suffix))
        stage = Usd.Stage.CreateNew(str(layer))
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        root = UsdGeom.Xform.Define(stage, "/World")
        stage.SetDefaultPrim(root.GetPrim())
        mesh = UsdGeom.Mesh.Define(stage, "/World/scene")
        mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(m.vertices.astype(np.float32)))
        mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(m.faces), 3, np.int32)))
        mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(m.faces.astype(np.int32).ravel()))
        mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
        # our faces wind counter-clockwise seen from outside in a right-handed frame
        mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
        if m.normals is not None:
            mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(m.normals.astype(np.float32)))
            mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
        pv = UsdGeom.PrimvarsAPI(mesh)
        if m.colors is not None:
            pv.CreatePrimvar("displayColor", Sdf.ValueTypeNames.Color3fArray, UsdGeom.Tokens.vertex).Set(
                Vt.Vec3fArray.FromNumpy(m.colors.astype(np.float32)))
        mat = UsdShade.Material.Define(stage, "/World/Looks/worldstereo")
        shader = UsdShade.Shader.Define(stage, "/World/Looks/worldstereo/PreviewSurface")
        shader.CreateIdAttr("UsdPreviewSurface")
        shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
        mat.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
        if maps is not None:
            pv.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex).Set(
                Vt.Vec2fArray.FromNumpy(m.uvs.astype(np.float32)))
            reader = UsdShade.Shader.Define(stage, "/World/Looks/worldstereo/stReader")
            reader.CreateIdAttr("UsdPrimvarReader_float2")
            reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("st")
            outs = {"albedo": ("diffuseColor", "rgb", Sdf.ValueTypeNames.Color3f),
                    "normal": ("normal", "rgb", Sdf.ValueTypeNames.Normal3f),
                    "roughness": ("roughness", "r", Sdf.ValueTypeNames.Float)}
            for name, (inp, channel, vtype) in outs.items():
                fname = f"{path.stem}_{name}.png"
                (Path(tmp) / fname).write_bytes(_png(maps[name]))
                tex = UsdShade.Shader.Define(stage, f"/World/Looks/worldstereo/{name}Texture")
                tex.CreateIdAttr("UsdUVTexture")
                tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(fname)
                tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
                if name == "normal":  # [0, 1] PNG -> [-1, 1] tangent-space vector
                    tex.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(2, 2, 2, 1))
                    tex.CreateInput("bias", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(-1, -1, -1, 0))
                    tex.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("raw")
                out = tex.CreateOutput(channel, Sdf.ValueTypeNames.Float3 if channel == "rgb" else Sdf.ValueTypeNames.Float)
                shader.CreateInput(inp, vtype).ConnectToSource(out)
        else:
            shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(1.0)
            reader = UsdShade.Shader.Define(stage, "/World/Looks/worldstereo/colorReader")
            reader.CreateIdAttr("UsdPrimvarReader_float3")
            reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("displayColor")
            shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
                reader.CreateOutput("result", Sdf.ValueTypeNames.Float3))
        UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(mat)
        stage.GetRootLayer().Save()
        if suffix == ".usdz":
            pkg = Path(tmp) / path.name
            if not UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(layer)), str(pkg)):
                raise RuntimeError(f"{path}: pxr could not package the USDZ")
            atomic_write_bytes(path, pkg.read_bytes())
            return
        if maps is not None:
            for name in ("albedo", "normal", "roughness"):
                fname = f"{path.stem}_{name}.png"
                atomic_write_bytes(path.with_name(fname), (Path(tmp) / fname).read_bytes())
        atomic_write_bytes(path, layer.read_bytes())


def export_mesh(scene: ReconstructedScene, path, format: str = "obj", include_textures: bool = True,
                texture_resolution: int = 2048) -> Path:
    """Write ``scene.mesh`` as ``format`` (see the module docstring); returns the path written.

    ``texture_resolution`` (a power of two) is the side of the written maps; without a texture
    atlas (or with ``include_textures=False``) the vertex colours are written instead.
    """
    if format not in MESH_FORMATS:
        raise ValueError(f"format: {format!r} is not a mesh format; use one of {', '.join(MESH_FORMATS)}")
    if not isinstance(texture_resolution, int) or texture_resolution < 1 or texture_resolution & (texture_resolution - 1):
        raise ValueError(f"texture_resolution: must be a power of two (e.g. 1024, 2048), got {texture_resolution}")
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"{path}: folder {path.parent} does not exist; create it or choose another output")
    if len(scene.mesh.faces) == 0:
        raise ValueError("export_mesh: the scene's mesh is empty")
    maps = _textures(scene, texture_resolution) if include_textures else None
    if format == "obj":
        _export_obj(scene, path, maps)
    elif format == "ply":
        from trimesh.exchange.ply import export_ply

        atomic_write_bytes(path, export_ply(_trimesh(scene, None), encoding="binary", vertex_normal=scene.mesh.normals is not None))
    elif format in ("gltf", "glb"):
        _export_gltf(scene, path, maps, binary=format == "glb")
    elif format == "fbx":
        _export_fbx(scene, path, maps)
    else:
        _export_usd(scene, path, maps)
    return path


def export_point_cloud(scene: ReconstructedScene, path, format: str = "ply", include_colors: bool = True,
                       include_normals: bool = True) -> Path:
    """Write ``scene.point_cloud`` as ply | pcd | xyz | las (see the module docstring)."""
    if format not in POINT_FORMATS:
        raise ValueError(f"format: {format!r} is not a point-cloud format; use one of {', '.join(POINT_FORMATS)}")
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"{path}: folder {path.parent} does not exist; create it or choose another output")
    pc = scene.point_cloud
    cols = pc.colors if include_colors else None
    nrm = pc.normals if include_normals else None
    if format in ("ply", "pcd"):
        import open3d as o3d

        p = cloud_to_open3d(PointCloud(np.asarray(pc.points), cols, nrm))
        with atomic_path(path) as tmp:
            if not o3d.io.write_point_cloud(str(tmp), p, format=format, write_ascii=False):
                raise RuntimeError(f"{path}: Open3D could not write the point cloud")
    elif format == "xyz":
        cols_ = [pc.points] + [a for a in (cols, nrm) if a is not None]
        buf = io.StringIO()
        np.savetxt(buf, np.concatenate(cols_, 1), fmt="%.7g")
        atomic_write_text(path, buf.getvalue())
    else:
        import laspy

        header = laspy.LasHeader(point_format=7 if cols is not None else 6, version="1.4")
        header.scales = np.full(3, 1e-5)
        header.offsets = pc.points.min(0) if len(pc.points) else np.zeros(3)
        if nrm is not None:
            header.add_extra_dims([laspy.ExtraBytesParams(name=f"Normal{a}", type=np.float32) for a in "XYZ"])
        las = laspy.LasData(header)
        las.x, las.y, las.z = pc.points[:, 0], pc.points[:, 1], pc.points[:, 2]
        if cols is not None:
            c16 = (np.clip(cols, 0, 1) * 65535 + 0.5).astype(np.uint16)
            las.red, las.green, las.blue = c16[:, 0], c16[:, 1], c16[:, 2]
        if nrm is not None:
            las.NormalX, las.NormalY, las.NormalZ = nrm[:, 0], nrm[:, 1], nrm[:, 2]
        with atomic_path(path) as tmp:
            las.write(str(tmp))
    return path
