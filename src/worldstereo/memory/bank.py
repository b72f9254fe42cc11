"""MemoryBank, the Spatial-Stereo Memory (paper §3.3): the frames seen so far and, for every 4th
target pose, the bank frame whose camera frustum overlaps it most."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from worldstereo import jsonio
from worldstereo.atomic import atomic_path, atomic_write_json
from worldstereo.camera import Cameras, CameraValidationError
from worldstereo.camera.cameras import CAMERAS_SCHEMA
from worldstereo.geometry import (
    angle_penalty,
    equirect_to_views,
    frustum_box_iou,
    frustum_overlap,
    panorama_views,
    view_angles,
)
from worldstereo.safepath import UnsafeNameError, check_name

from .cache3d import Cache3D
from .pointmaps import pointmaps

BANK_FORMAT_VERSION = 1
# Official bank update: 8 of the 21 keyframes of a clip (later frames are denser: they see new ground).
KEYFRAMES_21 = (3, 6, 9, 12, 14, 16, 18, 20)
DEFAULT_STRIDE = 3
# Frustums are truncated at these multiples of the scene depth (official: far = 8 x median depth).
NEAR_FACTOR, FAR_FACTOR = 0.1, 8.0
COARSE_SAMPLES, RESCORE_TOP = 256, 8


@dataclass
class BankFrame:
    """One remembered view: image (H, W, 3) float32 in [0, 1], its camera, optional z-depth (H, W),
    and where it came from (``source`` trajectory name, ``index`` in it)."""

    image: np.ndarray
    camera: Cameras
    depth: Optional[np.ndarray] = None
    source: str = "input"
    index: int = 0


@dataclass
class Retrieval:
    """For F sampled targets: which target (``target_indices``), its best bank frame
    (``bank_indices``), the score (overlap x angle penalty) and the angle in degrees between axes."""

    target_indices: np.ndarray
    bank_indices: np.ndarray
    scores: np.ndarray
    angles: np.ndarray
    method: str


def overlap_fov_score(retrieval: Retrieval) -> float:
    """Overlapping-FoV score of a trajectory (paper Table 7): the sum over its sampled targets of the
    score of the best retrieved reference."""
    return float(np.sum(retrieval.scores))


def sample_targets(n: int, every: int = 4) -> np.ndarray:
    """F = max(1, round(N / every)) target indices spread uniformly over [0, N-1], both ends included."""
    if n < 1 or every < 1:
        raise ValueError(f"sample_targets: need n >= 1 and every >= 1, got n={n}, every={every}")
    f = max(1, int(round(n / every)))
    return np.unique(np.round(np.linspace(0, n - 1, f)).astype(np.int64))


def clip_keyframes(n: int, stride: Optional[int] = None) -> list[int]:
    """Which frames of an n-frame clip are remembered: the official 8 keyframes (3, 6, 9, 12, 14,
    16, 18, 20) of a 21-frame clip by default, otherwise every ``stride``-th frame (default
    ``DEFAULT_STRIDE``) ending at the last one."""
    if stride is None and n == 21:
        return list(KEYFRAMES_21)
    step = DEFAULT_STRIDE if stride is None else int(stride)
    if step < 1:
        raise ValueError(f"MemoryBank.add_clip: stride must be >= 1, got {stride}")
    return list(range(n - 1, -1, -step))[::-1]


class MemoryBank:
    """The frames available as references.

    Args:
        scene_depth: characteristic (median) depth of the scene; frustums are truncated at
            ``[NEAR_FACTOR, FAR_FACTOR] x scene_depth`` for scoring. Taken from the first depth
            map added when not given.
    """

    def __init__(self, scene_depth: Optional[float] = None):
        self.frames: list[BankFrame] = []
        self.scene_depth = scene_depth
        self._cams: dict[tuple[int, int], tuple[np.ndarray, Cameras]] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return f"MemoryBank(frames={len(self)}, scene_depth={self.scene_depth})"

    # -- filling --------------------------------------------------------------------------
    def add(self, image: Any, camera: Cameras, depth: Any = None, source: str = "input", index: int = 0) -> int:
        """Append one frame; returns its bank index."""
        img = np.asarray(image, dtype=np.float32)
        if len(camera) != 1 or img.shape != (camera.height, camera.width, 3):
            raise ValueError(
                f"MemoryBank.add: need one camera and an image of ({camera.height}, {camera.width}, 3), "
                f"got {len(camera)} cameras and {img.shape}"
            )
        d = None if depth is None else np.asarray(depth, dtype=np.float32)
        if d is not None and d.shape != img.shape[:2]:
            raise ValueError(f"MemoryBank.add: depth {d.shape} does not match the image {img.shape[:2]}")
        if self.scene_depth is None and d is not None and np.any(d > 0):
            self.scene_depth = float(np.median(d[d > 0]))
        self.frames.append(BankFrame(img, camera, d, source, int(index)))
        self._cams.clear()
        return len(self.frames) - 1

    def add_clip(
        self, frames: Any, cameras: Cameras, stride: Optional[int] = None, depths: Any = None, source: str = "clip"
    ) -> list[int]:
        """Add a temporally downsampled clip (F, H, W, 3).

        Default (``stride=None``): the official 8 keyframes (3, 6, 9, 12, 14, 16, 18, 20) for a
        21-frame clip, every ``DEFAULT_STRIDE``-th frame ending at the last one otherwise; an int
        ``stride`` takes every stride-th frame ending at the last one. Returns the new bank indices.
        """
        frames = np.asarray(frames, dtype=np.float32)
        n = len(frames)
        if n != len(cameras):
            raise ValueError(f"MemoryBank.add_clip: {n} frames for {len(cameras)} cameras")
        keep = clip_keyframes(n, stride)
        return [
            self.add(frames[i], cameras[i], None if depths is None else depths[i], source, i) for i in keep
        ]

    @classmethod
    def from_panorama(
        cls,
        pano: Any,
        distance: Any = None,
        n_elevations: int = 3,
        n_azimuths: int = 9,
        fov: tuple[float, float] = (120.0, 90.0),
        width: int = 832,
        height: int = 480,
    ) -> "MemoryBank":
        """The initial bank of a panorama scene: its 27 perspective views (see :func:`panorama_views`).

        ``distance`` (He, We), the ray length per equirect pixel, gives each view a z-depth.
        """
        cams = panorama_views(n_elevations, n_azimuths, fov, width, height)
        views = equirect_to_views(pano, cams)
        depths = [None] * len(cams)
        bank = cls()
        if distance is not None:
            dist = equirect_to_views(np.asarray(distance, np.float32), cams, mode="nearest")
            from worldstereo.camera import ray_directions

            dirs, _ = ray_directions(cams, height, width)
            cos = np.einsum("nhwi,ni->nhw", dirs.numpy(), cams.R[:, 2, :])  # z-depth = distance x cos
            depths = list((dist * cos).astype(np.float32))
            bank.scene_depth = float(np.median(np.asarray(distance)[np.asarray(distance) > 0]))
        for i in range(len(cams)):
            bank.add(views[i], cams[i], depths[i], source="panorama", index=i)
        return bank

    # -- retrieval ------------------------------------------------------------------------
    def _groups(self) -> dict[tuple[int, int], tuple[np.ndarray, Cameras]]:
        """Bank cameras grouped by image size (frustum scoring needs one size per batch), cached."""
        if not self._cams:
            sizes: dict[tuple[int, int], list[int]] = {}
            for i, f in enumerate(self.frames):
                sizes.setdefault((f.camera.width, f.camera.height), []).append(i)
            for size, idx in sizes.items():
                self._cams[size] = (
                    np.asarray(idx),
                    Cameras(
                        np.concatenate([self.frames[i].camera.K for i in idx]),
                        np.concatenate([self.frames[i].camera.cam_from_world for i in idx]),
                        *size,
                    ),
                )
        return self._cams

    def scores(self, target_cameras: Cameras, method: str = "volume", use_angle_penalty: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(M, T) overlap scores and angles (degrees) of every bank frame against every target."""
        if method not in ("volume", "box"):
            raise ValueError(f"MemoryBank: method must be 'volume' or 'box', got {method!r}")
        depth = self.scene_depth or 1.0
        near, far = NEAR_FACTOR * depth, FAR_FACTOR * depth
        score = np.zeros((len(self), len(target_cameras)))
        angle = np.zeros_like(score)
        for idx, cams in self._groups().values():
            if method == "box":
                s = frustum_box_iou(cams, target_cameras, near, far)
            else:
                s = frustum_overlap(cams, target_cameras, near, far, n_samples=COARSE_SAMPLES)
            a = view_angles(cams, target_cameras)
            if use_angle_penalty:
                s = s * angle_penalty(a)
            if method == "volume":
                # coarse scores pick the candidates; the best few are rescored with the full sample set
                top = np.argsort(-s, axis=0)[:RESCORE_TOP]
                for t in range(len(target_cameras)):
                    cand = np.unique(top[:, t])
                    fine = frustum_overlap(cams[cand], target_cameras[t], near, far)[:, 0]
                    s[cand, t] = fine * (angle_penalty(a[cand, t]) if use_angle_penalty else 1.0)
            score[idx], angle[idx] = s, a
        return score, angle

    def retrieve(
        self, target_cameras: Cameras, every: int = 4, method: str = "volume", use_angle_penalty: bool = True
    ) -> Retrieval:
        """For N target cameras, sample F = N / every of them uniformly and return each one's best bank frame.

        ``method``: "volume" (volumetric frustum IoU, the paper's choice) or "box" (IoU of the
        frustums' bounding boxes, the official release's approximation). Scores are multiplied by
        :func:`angle_penalty` unless ``use_angle_penalty`` is False.
        """
        if len(self) == 0:
            raise ValueError("MemoryBank.retrieve: the bank is empty; add the input view first")
        targets = sample_targets(len(target_cameras), every)
        score, angle = self.scores(target_cameras[targets], method, use_angle_penalty)
        best = score.argmax(0)
        cols = np.arange(len(targets))
        return Retrieval(targets, best, score[best, cols], angle[best, cols], method)

    def pointmaps(
        self, cache: Cache3D, target_cameras: Cameras, reference_indices: Sequence[int], **kwargs
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`pointmaps` of the targets and of the bank frames ``reference_indices``."""
        h, w = target_cameras.height, target_cameras.width
        refs = [self.frames[int(i)].camera.resized(w, h) for i in reference_indices]
        ref_cams = Cameras.concat(refs) if refs else Cameras(np.zeros((0, 3, 3)), np.zeros((0, 4, 4)), w, h)
        return pointmaps(cache, target_cameras, ref_cams, **kwargs)

    # -- files ----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """``folder/bank.json`` plus ``frame_XXXX.png`` (8-bit) and ``depth_XXXX.png`` (16-bit,
        metres = value x ``depth_scale`` in the JSON) per frame."""
        import imageio.v3 as iio

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for i, f in enumerate(self.frames):
            name = f"frame_{i:04d}.png"
            with atomic_path(folder / name) as tmp:
                iio.imwrite(tmp, np.round(np.clip(f.image, 0, 1) * 255).astype(np.uint8), extension=".png")
            entry = {"image": name, "source": f.source, "index": f.index, "camera": f.camera[0].to_dict(), "depth": None}
            if f.depth is not None:
                scale = max(float(f.depth.max()), 1e-12) / 65535.0
                entry["depth"], entry["depth_scale"] = f"depth_{i:04d}.png", scale
                with atomic_path(folder / entry["depth"]) as tmp:
                    iio.imwrite(tmp, np.round(f.depth / scale).astype(np.uint16), extension=".png")
            entries.append(entry)
        atomic_write_json(folder / "bank.json", {"version": BANK_FORMAT_VERSION, "scene_depth": self.scene_depth, "frames": entries})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "MemoryBank":
        """Read a bank written by :meth:`save`. Anything wrong in ``bank.json`` or the images it
        names raises ``jsonio.JSONInputError`` naming the file and field."""
        import imageio.v3 as iio

        folder = Path(folder)
        src = str(folder / "bank.json")
        meta = jsonio.check(jsonio.load(folder / "bank.json", "memory bank"), _BANK_SCHEMA, src,
                            "this bank was not written by this version; start a new run")
        bank = cls(meta.get("scene_depth"))
        for i, e in enumerate(meta["frames"]):
            where = f"frames[{i}]"
            try:
                camera = Cameras.from_dict(e["camera"])
            except CameraValidationError as exc:
                raise jsonio.JSONInputError(f"{src}: {where}.camera.{exc}; start a new run") from None
            if len(camera) != 1:
                raise jsonio.JSONInputError(f"{src}: {where}.camera: holds {len(camera)} cameras, a bank frame has one; start a new run")
            img = _read_png(folder, e["image"], src, f"{where}.image", iio).astype(np.float32) / 255.0
            if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[:2] != (camera.height, camera.width):
                raise jsonio.JSONInputError(f"{src}: {where}.image: {e['image']} is not a {camera.width}x{camera.height} "
                                            f"RGB image as its camera says (shape {img.shape}); start a new run")
            depth = None
            if e.get("depth") is not None:
                if "depth_scale" not in e:
                    raise jsonio.JSONInputError(f"{src}: {where}.depth_scale: missing (needed with depth); start a new run")
                depth = _read_png(folder, e["depth"], src, f"{where}.depth", iio).astype(np.float32) * np.float32(e["depth_scale"])
                if depth.shape != img.shape[:2]:
                    raise jsonio.JSONInputError(f"{src}: {where}.depth: {e['depth']} is {depth.shape}, its image {img.shape[:2]}; start a new run")
            bank.frames.append(BankFrame(img[..., :3], camera, depth, e.get("source", "input"), e.get("index", 0)))
        return bank


def _read_png(folder: Path, name: str, src: str, where: str, iio) -> np.ndarray:
    """The image file ``name`` of the bank folder (a plain file name: never a path out of it)."""
    try:
        check_name(name, where, src)
    except UnsafeNameError as exc:
        raise jsonio.JSONInputError(str(exc)) from None
    try:
        return np.asarray(iio.imread(folder / name))
    except Exception as exc:  # image decoders raise many types for missing or damaged files
        raise jsonio.JSONInputError(f"{src}: {where}: cannot read {name} ({type(exc).__name__}); "
                                    "the bank folder is incomplete, start a new run") from None


_BANK_SCHEMA = {
    "type": "object",
    "required": ["version", "frames"],
    "properties": {
        "version": {"const": BANK_FORMAT_VERSION},
        "scene_depth": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "frames": {"type": "array", "maxItems": 100_000, "items": {
            "type": "object",
            "required": ["image", "camera"],
            "properties": {
                "image": {"type": "string"},
                "source": {"type": "string", "maxLength": 256},
                "index": {"type": "integer", "minimum": 0, "maximum": 10**9},
                "camera": CAMERAS_SCHEMA,
                "depth": {"type": ["string", "null"]},
                "depth_scale": {"type": "number", "exclusiveMinimum": 0},
            },
        }},
    },
}
