"""The interface every generator backend implements (``tiny``, ``wan``, ``warp``).

A backend receives everything the pipeline knows about one trajectory at the working size — the
input image, the target cameras, the Cache3D renders (GGM condition), the retrieved references
with their pointmaps (SSM condition) — and returns the frames, plus depth when it can tell.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ...camera import Cameras

# progress(step, total, what) — called by backends at each denoising step or frame
Progress = Callable[[int, int, str], None]


@dataclass
class References:
    """SSM condition for one trajectory: for each sampled target frame ``target_indices[k]`` the
    retrieved bank frame ``images[k]`` (H, W, 3) with its camera, and the pointmaps (H, W, 3) of
    target and reference rendered from the cache (colour-coded world xyz, 0 = hole)."""

    target_indices: np.ndarray  # (F,)
    images: np.ndarray  # (F, H, W, 3) float32
    cameras: Cameras  # F cameras at the working size
    target_pointmaps: np.ndarray  # (F, H, W, 3)
    reference_pointmaps: np.ndarray  # (F, H, W, 3)
    bank_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.target_indices)


@dataclass
class GenerationRequest:
    """One trajectory to generate, all at the working size H x W with N frames.

    image: (H, W, 3) float32 — the first frame (frame 0 of ``cameras`` is its camera).
    cameras: N target cameras. renders/render_depth/masks: (N, H, W, 3) / (N, H, W) / (N, H, W)
    Cache3D renders at the targets (mask 1 = hole). references: SSM condition or None.
    """

    image: np.ndarray
    cameras: Cameras
    renders: np.ndarray
    render_depth: np.ndarray
    masks: np.ndarray
    references: Optional[References] = None
    steps: Optional[int] = None
    guidance: Optional[float] = None
    seed: int = 0

    def __post_init__(self) -> None:
        n, h, w = len(self.cameras), self.cameras.height, self.cameras.width
        checks = {"image": (self.image.shape, (h, w, 3)), "renders": (self.renders.shape, (n, h, w, 3)),
                  "render_depth": (self.render_depth.shape, (n, h, w)), "masks": (self.masks.shape, (n, h, w))}
        for name, (got, want) in checks.items():
            if tuple(got) != want:
                raise ValueError(f"GenerationRequest.{name}: shape {tuple(got)}, expected {want}")


@dataclass
class GenerationResult:
    """frames (N, H, W, 3) float32 in [0, 1]; depth (N, H, W) z-depth in scene units when the
    backend knows it (None otherwise) and where that depth came from.

    ``confidence`` (N, H, W) in [0, 1], optional: how far each pixel may be trusted as surface for
    the 3D cache (0 = adds nothing, e.g. a copy of the cache render); None = every pixel fully.
    ``derived``: the frames are the cache's own render plus inpainting, not a new view of the scene,
    so the cache merges them as soft points that fill its gaps but never override what it holds.
    """

    frames: np.ndarray
    depth: Optional[np.ndarray] = None
    depth_source: Optional[str] = None
    info: dict = field(default_factory=dict)
    confidence: Optional[np.ndarray] = None
    derived: bool = False


class Generator(abc.ABC):
    """A video generator backend."""

    name: str = "generator"
    #: working sizes must be multiples of this (the model's spatial factor x patch size)
    size_multiple: int = 1
    #: frames per trajectory the backend is built for (None = any)
    num_frames: Optional[int] = None
    #: True when weights are untrained (the output says so)
    untrained: bool = False
    #: one SSM reference is retrieved for every this-many target frames (paper §3.3: 4)
    ssm_every: int = 4

    def working_size(self, height: int, width: int, max_side: Optional[int] = None) -> tuple[int, int]:
        """The size the backend works at for an input of ``height x width``: aspect kept, long side at
        most ``max_side``, both rounded to ``size_multiple``."""
        scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
        m = self.size_multiple
        return max(m, int(round(height * scale / m)) * m), max(m, int(round(width * scale / m)) * m)

    @abc.abstractmethod
    def generate(self, request: GenerationRequest, progress: Optional[Progress] = None) -> GenerationResult:
        """Frames for ``request``; frame 0 must reproduce the input image."""

    def describe(self) -> dict:
        return {"name": self.name, "untrained": self.untrained}
