"""PointCloud: the one container for coloured points passed between geometry, memory and reconstruction."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

import numpy as np
import torch

_FIELDS = ("xyz", "rgb", "normals", "view_ids", "confidence")


def _rows(a: Any) -> int:
    return int(a.shape[0])


@dataclass(frozen=True, eq=False)
class PointCloud:
    """P points in world coordinates with optional per-point attributes.

    Every field holds numpy arrays or torch tensors (all of one kind, as given):

    Args:
        xyz: (P, 3) world positions.
        rgb: (P, 3) colours in [0, 1], or None.
        normals: (P, 3) unit normals, or None.
        view_ids: (P,) integer id of the frame a point came from, or None.
        confidence: (P,) higher = more trusted (used to decide which duplicate survives), or None.
    """

    xyz: Any
    rgb: Optional[Any] = None
    normals: Optional[Any] = None
    view_ids: Optional[Any] = None
    confidence: Optional[Any] = None

    def __post_init__(self) -> None:
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3:
            raise ValueError(f"PointCloud.xyz: expected shape (P, 3), got {tuple(self.xyz.shape)}")
        n = _rows(self.xyz)
        for name in _FIELDS[1:]:
            v = getattr(self, name)
            if v is None:
                continue
            want = (n, 3) if name in ("rgb", "normals") else (n,)
            if tuple(v.shape) != want:
                raise ValueError(f"PointCloud.{name}: expected shape {want}, got {tuple(v.shape)}")

    def __len__(self) -> int:
        return _rows(self.xyz)

    def __repr__(self) -> str:
        extra = [f.name for f in fields(self) if f.name != "xyz" and getattr(self, f.name) is not None]
        return f"PointCloud(n={len(self)}, fields={extra})"

    # the reconstruction API's names (``scene.point_cloud.points``), the same arrays
    points = property(lambda self: self.xyz, doc="(P, 3) positions: ``xyz``.")
    colors = property(lambda self: self.rgb, doc="(P, 3) colours in [0, 1]: ``rgb``.")

    @property
    def is_torch(self) -> bool:
        return isinstance(self.xyz, torch.Tensor)

    def _map(self, fn) -> "PointCloud":
        return PointCloud(**{k: (None if getattr(self, k) is None else fn(getattr(self, k))) for k in _FIELDS})

    def select(self, index: Any) -> "PointCloud":
        """The points picked by a boolean mask or an index array."""
        return self._map(lambda a: a[index])

    def numpy(self) -> "PointCloud":
        """A numpy copy (xyz/rgb/normals/confidence float32, view_ids int64)."""

        def conv(a: Any) -> np.ndarray:
            a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
            return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float32)

        return self._map(conv)

    def torch(self, device: Any = None) -> "PointCloud":
        """A torch copy on ``device`` (float32, view_ids int64)."""

        def conv(a: Any) -> torch.Tensor:
            t = torch.as_tensor(a, device=device)
            return t.long() if not t.is_floating_point() else t.float()

        return self._map(conv)

    def transformed(self, transform: np.ndarray) -> "PointCloud":
        """Points mapped by a 4x4 similarity ``new_from_old`` (normals rotated and renormalised)."""
        T = np.asarray(transform, dtype=np.float64)
        if T.shape != (4, 4):
            raise ValueError(f"PointCloud.transformed: expected a 4x4 matrix, got shape {T.shape}")
        lin, t = T[:3, :3], T[:3, 3]
        if self.is_torch:
            L = torch.as_tensor(lin, dtype=self.xyz.dtype, device=self.xyz.device)
            tv = torch.as_tensor(t, dtype=self.xyz.dtype, device=self.xyz.device)
            xyz = self.xyz @ L.T + tv
            n = None if self.normals is None else torch.nn.functional.normalize(self.normals @ L.T, dim=-1)
        else:
            xyz = (self.xyz @ lin.T + t).astype(self.xyz.dtype)
            n = None
            if self.normals is not None:
                n = self.normals @ lin.T
                n = (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)).astype(self.normals.dtype)
        return replace(self, xyz=xyz, normals=n)

    @staticmethod
    def concat(clouds: list["PointCloud"]) -> "PointCloud":
        """Points of all clouds; an attribute survives only if every cloud has it."""
        if not clouds:
            raise ValueError("PointCloud.concat: nothing to concatenate")
        cat = torch.cat if clouds[0].is_torch else np.concatenate
        out = {}
        for k in _FIELDS:
            vals = [getattr(c, k) for c in clouds]
            out[k] = None if any(v is None for v in vals) else cat(vals)
        return PointCloud(**out)

    def voxel_downsample(self, voxel_size: float) -> "PointCloud":
        """One point per voxel of edge ``voxel_size``: the one with the highest confidence.

        Without confidence the first point in the voxel survives. Numpy in, numpy out.
        """
        if voxel_size <= 0:
            raise ValueError(f"voxel_downsample: voxel_size must be > 0, got {voxel_size}")
        pc = self.numpy()
        keep = voxel_keep_indices(pc.xyz, voxel_size, pc.confidence)
        return pc.select(keep)

    def bounds(self, quantile: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the points per axis; ``quantile`` > 0 ignores that share of outliers per side."""
        xyz = self.numpy().xyz
        if len(xyz) == 0:
            raise ValueError("PointCloud.bounds: the cloud is empty")
        if quantile > 0:
            return np.quantile(xyz, quantile, axis=0), np.quantile(xyz, 1 - quantile, axis=0)
        return xyz.min(0), xyz.max(0)


def voxel_keep_indices(xyz: np.ndarray, voxel_size: float, confidence: Optional[np.ndarray] = None) -> np.ndarray:
    """Sorted indices of one point per occupied voxel (highest confidence first, then lowest index)."""
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.int64)
    ijk = np.floor(np.asarray(xyz, dtype=np.float64) / voxel_size).astype(np.int64)
    ijk -= ijk.min(0)
    span = ijk.max(0) + 1
    if np.prod(span.astype(np.float64)) < 2**62:
        key = (ijk[:, 0] * span[1] + ijk[:, 1]) * span[2] + ijk[:, 2]
    else:
        key = np.unique(ijk, axis=0, return_inverse=True)[1].reshape(-1)
    conf = np.zeros(len(xyz)) if confidence is None else -np.asarray(confidence, dtype=np.float64)
    order = np.lexsort((np.arange(len(xyz)), conf, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order[1:]] != key[order[:-1]]
    return np.sort(order[first])
