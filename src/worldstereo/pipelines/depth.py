"""Depth backends: where the depth of the input (and of generated frames, when a generator gives
none) comes from.

``given`` (a user file / RGB-D array), ``transformers`` (any ``AutoModelForDepthEstimation`` in a
local directory, e.g. Depth Pro or Depth Anything; never fetched) and ``synthetic`` (the ground
truth of a bundled sample).
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .inputs import InputError, load_depth

log = logging.getLogger(__name__)

NO_DEPTH_HELP = ("give a depth map with --depth FILE (.npy, 16-bit .png in mm, .exr), a local depth model with "
                 "--depth-model DIR (transformers AutoModelForDepthEstimation), or start from a bundled sample "
                 "(`worldstereo sample list`)")


@dataclass
class DepthEstimate:
    """depth (H, W) float32 z-depth (0 = invalid); K (3, 3) when the backend estimated the focal
    length; ``metric`` whether the units are metres (else an unknown scale)."""

    depth: np.ndarray
    K: Optional[np.ndarray] = None
    metric: bool = False
    source: str = ""


class DepthBackend(abc.ABC):
    name = "depth"

    @abc.abstractmethod
    def estimate(self, image: np.ndarray) -> DepthEstimate:
        """Depth of an (H, W, 3) float32 image at the image's size."""


class GivenDepth(DepthBackend):
    """Depth the user supplies: a file path or an (H, W) array (RGB-D input)."""

    name = "given"

    def __init__(self, depth: Any, metric: bool = True):
        self.depth = depth
        self.metric = metric

    def estimate(self, image: np.ndarray) -> DepthEstimate:
        shape = image.shape[:2]
        if isinstance(self.depth, (str, os.PathLike)):
            return DepthEstimate(load_depth(self.depth, shape), None, self.metric, f"file:{self.depth}")
        d = np.asarray(self.depth, dtype=np.float32)
        if d.shape != shape:
            raise InputError(f"depth: array is {d.shape[1]}x{d.shape[0]} but the image is {shape[1]}x{shape[0]}")
        if not np.isfinite(d).all() or (d < 0).any():
            raise InputError("depth: array has non-finite or negative values; write 0 for invalid pixels")
        return DepthEstimate(d, None, self.metric, "array")


class SyntheticDepth(GivenDepth):
    """Ground-truth depth of a synthetic sample (exact, metric)."""

    name = "synthetic"

    def estimate(self, image: np.ndarray) -> DepthEstimate:
        est = super().estimate(image)
        est.source = "synthetic-ground-truth"
        return est


class TransformersDepth(DepthBackend):
    """A ``transformers`` depth model from a local directory (``local_files_only``: nothing is fetched).

    Models that predict metric depth (Depth Pro, metric Depth Anything) give metres; models that
    also predict the field of view (Depth Pro) give K. Relative-depth models give an unknown scale,
    which the Cache3D alignment absorbs for generated frames.
    """

    name = "transformers"

    def __init__(self, model_dir: str | os.PathLike, device: Optional[str] = None):
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise InputError(f"{model_dir}: not a local transformers model folder (no config.json); "
                             "save one with model.save_pretrained(DIR) on a machine that has it")
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        try:
            self.processor = AutoImageProcessor.from_pretrained(model_dir, local_files_only=True)
            self.model = AutoModelForDepthEstimation.from_pretrained(model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InputError(f"{model_dir}: cannot load the depth model ({str(exc).splitlines()[0]})") from None
        self.device = device or "cpu"
        self.model.to(self.device).eval()
        self.model_dir = model_dir
        self.metric = "metric" in str(getattr(self.model.config, "depth_estimation_type", "")).lower() or \
            getattr(self.model.config, "model_type", "") == "depth_pro"

    def estimate(self, image: np.ndarray) -> DepthEstimate:
        import torch

        h, w = image.shape[:2]
        inputs = self.processor(images=(np.clip(image, 0, 1) * 255).astype(np.uint8), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            out = self.model(**inputs)
        post = self.processor.post_process_depth_estimation(out, target_sizes=[(h, w)])[0]
        depth = post["predicted_depth"].float().cpu().numpy()
        K = None
        focal = post.get("focal_length")
        if focal is not None:
            f = float(focal)
            K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
        return DepthEstimate(depth, K, self.metric, f"transformers:{self.model_dir.name}")


def depth_backend(depth: Any = None, depth_model: Optional[str | os.PathLike] = None, sample_depth: Any = None,
                  source: str = "input") -> DepthBackend:
    """The backend for the user's choice; with none available, an error naming the three ways."""
    if depth is not None:
        return GivenDepth(depth)
    if depth_model is not None:
        return TransformersDepth(depth_model)
    if sample_depth is not None:
        return SyntheticDepth(sample_depth)
    raise InputError(f"{source}: no depth for this image; {NO_DEPTH_HELP}")
