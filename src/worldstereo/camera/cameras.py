"""Batched pinhole cameras: the one place the project's camera convention is enforced.

Convention (see ``docs/conventions.md``):

* camera axes are **OpenCV**: x right, y down, z forward;
* extrinsics are ``cam_from_world`` (world -> camera), 4x4, float64;
* intrinsics ``K`` are in pixels of the image of size ``width x height`` they belong to;
* the centre of pixel (row i, col j) is at (u, v) = (j + 0.5, i + 0.5), so the image spans
  [0, width] x [0, height] in continuous coordinates and resizing is a pure scale of K.

Arrays are stored as numpy float64. Methods that take points accept numpy arrays or torch
tensors and answer in the same kind (torch answers keep the input's dtype and device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

ROTATION_TOL = 1e-4
MAX_SIDE = 8192  # image sides a camera file may claim (the trajectory schema's bound too)

_ROW3 = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
_ROW4 = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
_MAT3 = {"type": "array", "items": _ROW3, "minItems": 3, "maxItems": 3}
_MAT4 = {"type": "array", "items": _ROW4, "minItems": 4, "maxItems": 4}
# The JSON form of :meth:`Cameras.to_dict`: loaders of files a run wrote check it before numpy sees
# the values, so a damaged file fails with the JSON path of the bad value.
CAMERAS_SCHEMA = {
    "type": "object",
    "required": ["width", "height", "K", "cam_from_world"],
    "properties": {
        "width": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
        "height": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
        "K": {"oneOf": [_MAT3, {"type": "array", "items": _MAT3, "minItems": 1}]},
        "cam_from_world": {"oneOf": [_MAT4, {"type": "array", "items": _MAT4, "minItems": 1}]},
    },
}


class CameraValidationError(ValueError):
    """A camera field holds an invalid value; ``field`` and ``index`` say where."""

    def __init__(self, field: str, index: int | None, reason: str):
        self.field = field
        self.index = index
        self.reason = reason
        where = field if index is None else f"{field}[{index}]"
        super().__init__(f"{where}: {reason}")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CameraValidationError(name, None, f"not a numeric array ({exc})") from None


def _validate_K(K: np.ndarray) -> None:
    for i, k in enumerate(K):
        if not np.all(np.isfinite(k)):
            raise CameraValidationError("K", i, "contains non-finite values")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CameraValidationError("K", i, f"focal length must be > 0 (fx={k[0, 0]:g}, fy={k[1, 1]:g})")
        if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or k[2, 2] != 1:
            raise CameraValidationError("K", i, "must be upper triangular with K[2] = [0, 0, 1]")


def _validate_cam_from_world(T: np.ndarray) -> None:
    eye = np.eye(3)
    for i, m in enumerate(T):
        if not np.all(np.isfinite(m)):
            raise CameraValidationError("cam_from_world", i, "contains non-finite values")
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise CameraValidationError("cam_from_world", i, "last row must be [0, 0, 0, 1]")
        R = m[:3, :3]
        with np.errstate(over="ignore", invalid="ignore"):  # huge entries give inf/NaN here: not orthonormal
            err = np.abs(R.T @ R - eye).max()
        if not err <= ROTATION_TOL:
            raise CameraValidationError(
                "cam_from_world", i, f"rotation is not orthonormal (max |R^T R - I| = {err:.2g} > {ROTATION_TOL:g})"
            )
        det = np.linalg.det(R)
        if det < 0:
            raise CameraValidationError("cam_from_world", i, f"rotation has det {det:.3f}; a reflection is not a camera")


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K for the same camera after resizing its image by (sx, sy). The one resize rule.

    Exact because pixel centres sit at +0.5: the continuous image rectangle [0, W] x [0, H]
    maps onto [0, sx W] x [0, sy H].
    """
    S = np.diag([sx, sy, 1.0])
    return S @ np.asarray(K, dtype=np.float64)


def crop_intrinsics(K: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """K for the same camera after cropping its image to start at pixel column ``x0``, row ``y0``."""
    K = np.array(K, dtype=np.float64)
    K[..., 0, 2] -= x0
    K[..., 1, 2] -= y0
    return K


def intrinsics_from_fov(fov_x_deg: float, width: int, height: int, fov_y_deg: float | None = None) -> np.ndarray:
    """A centred pinhole K (square pixels unless ``fov_y_deg`` is given)."""
    if not 0 < fov_x_deg < 180:
        raise ValueError(f"fov_x: {fov_x_deg} degrees is outside (0, 180); pass a field of view in degrees")
    fx = 0.5 * width / np.tan(np.radians(fov_x_deg) / 2)
    fy = fx if fov_y_deg is None else 0.5 * height / np.tan(np.radians(fov_y_deg) / 2)
    return np.array([[fx, 0.0, width / 2], [0.0, fy, height / 2], [0.0, 0.0, 1.0]])


def _as_like(a: np.ndarray, ref: Any):
    """``a`` converted to the array kind of ``ref`` (torch keeps ref's dtype/device)."""
    if isinstance(ref, torch.Tensor):
        return torch.tensor(a, dtype=ref.dtype, device=ref.device)
    return a


def _mT(a: Any) -> Any:
    return a.transpose(-1, -2) if isinstance(a, torch.Tensor) else np.swapaxes(a, -1, -2)


def _stack(arrays: list, ref: Any) -> Any:
    return torch.stack(arrays, -1) if isinstance(ref, torch.Tensor) else np.stack(arrays, -1)


@dataclass(frozen=True, eq=False)
class Cameras:
    """N pinhole cameras sharing one image size.

    Args:
        K: (N, 3, 3) or (3, 3) intrinsics in pixels (a single K is shared by all frames).
        cam_from_world: (N, 4, 4) or (4, 4) world -> camera transforms, OpenCV axes.
        width, height: image size in pixels that ``K`` refers to.

    Raises:
        CameraValidationError (a ``ValueError``) naming the field and frame index of a bad value.
    """

    K: np.ndarray
    cam_from_world: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        K = _to_numpy(self.K, "K")
        T = _to_numpy(self.cam_from_world, "cam_from_world")
        if T.ndim == 2:
            T = T[None]
        if T.ndim != 3 or T.shape[1:] != (4, 4):
            raise CameraValidationError("cam_from_world", None, f"expected shape (N, 4, 4), got {T.shape}")
        if K.ndim == 2:
            K = np.broadcast_to(K, (T.shape[0], *K.shape)).copy()
        if K.ndim != 3 or K.shape[1:] != (3, 3):
            raise CameraValidationError("K", None, f"expected shape (N, 3, 3) or (3, 3), got {K.shape}")
        if K.shape[0] != T.shape[0]:
            raise CameraValidationError("K", None, f"{K.shape[0]} intrinsics for {T.shape[0]} extrinsics")
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise CameraValidationError(name, None, f"must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        _validate_K(K)
        _validate_cam_from_world(T)
        K.setflags(write=False)
        T.setflags(write=False)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "cam_from_world", T)

    # -- construction helpers -------------------------------------------------------------
    @classmethod
    def identity(cls, K: Any, width: int, height: int, n: int = 1) -> "Cameras":
        """``n`` cameras at the world origin (the input camera of a single-image scene)."""
        return cls(K=K, cam_from_world=np.tile(np.eye(4), (n, 1, 1)), width=width, height=height)

    @classmethod
    def from_world_from_cam(cls, K: Any, world_from_cam: Any, width: int, height: int) -> "Cameras":
        return cls(K=K, cam_from_world=np.linalg.inv(_to_numpy(world_from_cam, "world_from_cam")), width=width, height=height)

    @classmethod
    def concat(cls, cams: list["Cameras"]) -> "Cameras":
        if not cams:
            raise ValueError("Cameras.concat: nothing to concatenate")
        w, h = cams[0].width, cams[0].height
        for i, c in enumerate(cams):
            if (c.width, c.height) != (w, h):
                raise ValueError(f"Cameras.concat: item {i} is {c.width}x{c.height}, expected {w}x{h}; resize first")
        return cls(np.concatenate([c.K for c in cams]), np.concatenate([c.cam_from_world for c in cams]), w, h)

    # -- sequence protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return self.cam_from_world.shape[0]

    def __getitem__(self, idx: Any) -> "Cameras":
        """Frames by int, slice, index array or boolean mask; always returns ``Cameras``."""
        if isinstance(idx, (int, np.integer)):
            n = len(self)
            if not -n <= idx < n:
                raise IndexError(f"camera index {idx} out of range for {n} cameras")
            idx = [int(idx)]
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        return Cameras(self.K[idx], self.cam_from_world[idx], self.width, self.height)

    def __repr__(self) -> str:
        return f"Cameras(n={len(self)}, width={self.width}, height={self.height})"

    # -- derived quantities ---------------------------------------------------------------
    @property
    def R(self) -> np.ndarray:
        """(N, 3, 3) rotation part of cam_from_world."""
        return self.cam_from_world[:, :3, :3]

    @property
    def t(self) -> np.ndarray:
        """(N, 3) translation part of cam_from_world."""
        return self.cam_from_world[:, :3, 3]

    @property
    def world_from_cam(self) -> np.ndarray:
        """(N, 4, 4) camera -> world, computed in closed form (R^T, -R^T t)."""
        out = np.zeros_like(self.cam_from_world)
        Rt = np.transpose(self.R, (0, 2, 1))
        out[:, :3, :3] = Rt
        out[:, :3, 3] = -np.einsum("nij,nj->ni", Rt, self.t)
        out[:, 3, 3] = 1.0
        return out

    @property
    def centers(self) -> np.ndarray:
        """(N, 3) camera centres in world coordinates."""
        return -np.einsum("nji,nj->ni", self.R, self.t)

    @property
    def fov_x(self) -> np.ndarray:
        """(N,) horizontal field of view in degrees (principal point assumed centred)."""
        return np.degrees(2 * np.arctan(0.5 * self.width / self.K[:, 0, 0]))

    @property
    def fov_y(self) -> np.ndarray:
        """(N,) vertical field of view in degrees."""
        return np.degrees(2 * np.arctan(0.5 * self.height / self.K[:, 1, 1]))

    # -- transforms -----------------------------------------------------------------------
    def resized(self, width: int, height: int) -> "Cameras":
        """The same cameras for an image resized to ``width x height`` (K rescaled)."""
        sx, sy = width / self.width, height / self.height
        return Cameras(scale_intrinsics(self.K, sx, sy), self.cam_from_world, width, height)

    def with_cam_from_world(self, cam_from_world: Any) -> "Cameras":
        return Cameras(self.K, cam_from_world, self.width, self.height)

    def transformed(self, world_from_new: np.ndarray) -> "Cameras":
        """Re-express the cameras in a new world frame: cam_from_new = cam_from_world @ world_from_new."""
        return self.with_cam_from_world(self.cam_from_world @ np.asarray(world_from_new, dtype=np.float64))

    def project(self, points: Any) -> tuple[Any, Any]:
        """Project world points into every camera.

        Args:
            points: (P, 3) shared by all cameras, or (N, P, 3) one set per camera.
        Returns:
            uv (N, P, 2) continuous pixel coordinates (pixel centres at +0.5) and
            z (N, P) depth along the optical axis (<= 0 means behind the camera; uv is then
            meaningless and left as computed).
        """
        Rm, tv, Km = (_as_like(a, points) for a in (self.R, self.t, self.K))
        if points.shape[-1] != 3 or points.ndim not in (2, 3):
            raise ValueError(f"project: points must be (P, 3) or (N, P, 3), got {tuple(points.shape)}")
        if points.ndim == 3 and points.shape[0] != len(self):
            raise ValueError(f"project: {points.shape[0]} point sets for {len(self)} cameras")
        pts = points[None] if points.ndim == 2 else points
        cam = pts @ _mT(Rm) + tv[:, None, :]
        z = cam[..., 2]
        x = cam[..., 0] / z
        y = cam[..., 1] / z
        u = Km[:, None, 0, 0] * x + Km[:, None, 0, 1] * y + Km[:, None, 0, 2]
        v = Km[:, None, 1, 1] * y + Km[:, None, 1, 2]
        return _stack([u, v], points), z

    def unproject(self, pixels: Any, depth: Any) -> Any:
        """World points of pixels at given z-depths (paper Eq. 1: X = R_wc (D K^-1 x) + c).

        Args:
            pixels: (P, 2) shared or (N, P, 2) continuous pixel coordinates (u, v).
            depth: (N, P) z-depth along the optical axis (not ray length).
        Returns:
            (N, P, 3) world points, same array kind as ``pixels``.
        """
        W = self.world_from_cam
        Rw, tw, Km = (_as_like(a, pixels) for a in (W[:, :3, :3], W[:, :3, 3], self.K))
        pix = pixels[None] if pixels.ndim == 2 else pixels
        fx, fy = Km[:, None, 0, 0], Km[:, None, 1, 1]
        cx, cy, s = Km[:, None, 0, 2], Km[:, None, 1, 2], Km[:, None, 0, 1]
        y = (pix[..., 1] - cy) / fy
        x = (pix[..., 0] - cx - s * y) / fx
        rays = _stack([x, y, x * 0 + 1], pixels) * depth[..., None]
        return rays @ _mT(Rw) + tw[:, None, :]

    # -- interop --------------------------------------------------------------------------
    def to_torch(self, device: Any = None, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, cam_from_world) as tensors of shape (N, 3, 3) and (N, 4, 4)."""
        return (
            torch.tensor(self.K, dtype=dtype, device=device),
            torch.tensor(self.cam_from_world, dtype=dtype, device=device),
        )

    def to_dict(self) -> dict:
        """Plain-JSON form: {"width", "height", "K": N x 3 x 3, "cam_from_world": N x 4 x 4}."""
        return {
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "cam_from_world": self.cam_from_world.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Cameras":
        missing = [k for k in ("width", "height", "K", "cam_from_world") if k not in d]
        if missing:
            raise ValueError(f"Cameras.from_dict: missing keys {missing}")
        return cls(K=d["K"], cam_from_world=d["cam_from_world"], width=d["width"], height=d["height"])

    def allclose(self, other: "Cameras", atol: float = 1e-9) -> bool:
        return (
            len(self) == len(other)
            and (self.width, self.height) == (other.width, other.height)
            and np.allclose(self.K, other.K, atol=atol, rtol=0)
            and np.allclose(self.cam_from_world, other.cam_from_world, atol=atol, rtol=0)
        )
