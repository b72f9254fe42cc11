"""The cache's PLY file: binary little-endian vertices with x, y, z, red, green, blue, confidence, view_id.

Standard property names, so MeshLab, Open3D and CloudCompare open it; the two extra properties
are ignored by viewers and restore the cache exactly (colours are quantised to 8 bits).
"""

from __future__ import annotations

import os

import numpy as np

from worldstereo.geometry import PointCloud

_DTYPE = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
          ("confidence", "<f4"), ("view_id", "<i4")]


def write_ply(path: str | os.PathLike, points: PointCloud) -> None:
    from plyfile import PlyData, PlyElement

    pc = points.numpy()
    v = np.empty(len(pc), dtype=_DTYPE)
    for k, name in enumerate("xyz"):
        v[name] = pc.xyz[:, k]
    rgb = np.zeros_like(pc.xyz) if pc.rgb is None else pc.rgb
    for k, name in enumerate(("red", "green", "blue")):
        v[name] = np.clip(np.round(rgb[:, k] * 255), 0, 255)
    v["confidence"] = 1.0 if pc.confidence is None else pc.confidence
    v["view_id"] = 0 if pc.view_ids is None else pc.view_ids
    PlyData([PlyElement.describe(v, "vertex")], text=False, byte_order="<").write(os.fspath(path))


def read_ply(path: str | os.PathLike) -> PointCloud:
    from plyfile import PlyData

    try:
        v = PlyData.read(os.fspath(path))["vertex"].data
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such point cloud file") from None
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a point-cloud PLY with a vertex element ({exc})") from None
    names = v.dtype.names
    xyz = np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float32)
    rgb = None
    if all(c in names for c in ("red", "green", "blue")):
        rgb = np.stack([v["red"], v["green"], v["blue"]], 1).astype(np.float32) / 255.0
    conf = v["confidence"].astype(np.float32) if "confidence" in names else None
    ids = v["view_id"].astype(np.int64) if "view_id" in names else None
    return PointCloud(xyz, rgb, view_ids=ids, confidence=conf)
