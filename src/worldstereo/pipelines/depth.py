"""Depth backends: where the depth of the input (and of generated frames, when a generator gives
none) comes from.

``given`` (a user file / RGB-D array), ``transformers`` (any ``AutoModelForDepthEstimation`` in a
local directory, or a hub id fetched only where the network is allowed, see ``worldstereo.hub``) and ``synthetic`` (the ground
truth of a bundled sample).
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .inputs import InputError, load_depth

log = logging.getLogger(__name__)

NO_DEPTH_HELP = ("give a depth map with --depth FILE (.npy, 16-bit .png in mm, .exr), a depth model with "
                 "--depth-model NAME_OR_DIR (a transformers AutoModelForDepthEstimation folder or hub id), "
                 "or start from a bundled sample (`worldstereo sample list`)")


@dataclass
class DepthEstimate:
    """depth (H, W) float32 z-depth (0 = invalid); K (3, 3) when the backend estimated the focal
    length; ``metric`` whether the units are metres (else an unknown scale)."""

    depth: np.ndarray
    K: Optional[np.ndarray] = None
    metric: bool = False
    source: str = ""
    units: str = "metric (m)"


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
            return DepthEstimate(load_depth(self.depth, shape), None, self.metric, f"file:{self.depth}",
                                 "as given (file)")
        d = np.asarray(self.depth, dtype=np.float32)
        if d.shape != shape:
            raise InputError(f"depth: array is {d.shape[1]}x{d.shape[0]} but the image is {shape[1]}x{shape[0]}")
        if not np.isfinite(d).all() or (d < 0).any():
            raise InputError("depth: array has non-finite or negative values; write 0 for invalid pixels")
        return DepthEstimate(d, None, self.metric, "array", "as given (array)")


class SyntheticDepth(GivenDepth):
    """Ground-truth depth of a synthetic sample (exact, metric)."""

    name = "synthetic"

    def estimate(self, image: np.ndarray) -> DepthEstimate:
        est = super().estimate(image)
        est.source = "synthetic-ground-truth"
        return est


# Relative models predict inverse depth up to an unknown scale and shift; with nothing metric to fit
# them to, the shift is taken as 0 and depth is normalised to this median.
RELATIVE_MEDIAN = 1.0
RELATIVE_UNITS = "relative (inverse-depth output inverted with shift 0, scaled so the median depth = 1)"
# Disparities below this fraction of the 99th percentile are sky / infinitely far: invalid.
MIN_DISPARITY_FRAC = 1e-3


def model_kind(config: Any) -> str:
    """``"metric"`` (metres), or ``"relative"`` (inverse depth up to scale and shift), from a config."""
    mtype = getattr(config, "model_type", "")
    if mtype in ("depth_pro", "zoedepth"):
        return "metric"
    if "metric" in str(getattr(config, "depth_estimation_type", "") or "").lower():
        return "metric"
    return "relative"


def disparity_to_depth(disparity: np.ndarray, median: float = RELATIVE_MEDIAN) -> np.ndarray:
    """Relative inverse depth (H, W) -> depth (H, W) float32 with the given median, 0 = invalid.

    The unknown shift is taken as 0 (no metric reference to fit it to); the unknown scale is fixed
    by the median. Non-positive or near-zero disparities (sky) are invalid.
    """
    d = np.asarray(disparity, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if not ok.any():
        return np.zeros(d.shape, np.float32)
    ok &= d > MIN_DISPARITY_FRAC * np.percentile(d[ok], 99)
    depth = np.zeros(d.shape, np.float64)
    depth[ok] = 1.0 / d[ok]
    return (depth * (median / np.median(depth[ok]))).astype(np.float32)


class TransformersDepth(DepthBackend):
    """A ``transformers`` depth model from a local folder or a hub id (through :mod:`worldstereo.hub`).

    Metric models (Depth Pro, ZoeDepth, Depth Anything V2 metric) give metres; Depth Pro's focal
    length estimate gives K. Relative models (Depth Anything V2 relative, DPT) predict inverse depth
    up to scale and shift: see :func:`disparity_to_depth` and ``RELATIVE_UNITS``; the Cache3D
    alignment absorbs the scale for generated frames.
    """

    name = "transformers"

    def __init__(self, model_dir: str | os.PathLike, device: Optional[str] = None,
                 allow_network: Optional[bool] = None):
        from ..hub import HubError, resolve_model

        try:
            model_dir = resolve_model(model_dir, "depth model", allow_network)
        except HubError as exc:
            raise InputError(str(exc)) from None
        if not (model_dir / "config.json").is_file():
            raise InputError(f"{model_dir}: not a transformers model folder (no config.json); "
                             "save one with model.save_pretrained(DIR) and processor.save_pretrained(DIR)")
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(model_dir, local_files_only=True)
            try:
                self.processor = AutoImageProcessor.from_pretrained(model_dir, local_files_only=True)
            except (ImportError, ValueError) as exc:
                if "torchvision" not in str(exc):
                    raise
                if self.model.config.model_type != "depth_pro":
                    raise InputError(f"{model_dir}: its image processor needs torchvision, which worldstereo "
                                     "does not use; save the model with a PIL image processor") from None
                from .depth_processors import DepthProProcessor

                self.processor = DepthProProcessor.from_folder(model_dir)
        except (OSError, ValueError) as exc:
            raise InputError(f"{model_dir}: cannot load the depth model ({str(exc).splitlines()[0]})") from None
        self.device = device or "cpu"
        self.model.to(self.device).eval()
        self.model_dir = model_dir
        self.kind = model_kind(self.model.config)
        self.metric = self.kind == "metric"

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, Optional[float]]:
        """The model's raw output at the image's size (depth for metric models, inverse depth for
        relative ones) and its focal length estimate in pixels, if any."""
        import torch

        h, w = image.shape[:2]
        inputs = self.processor(images=(np.clip(image, 0, 1) * 255).astype(np.uint8), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            out = self.model(**inputs)
        if self.model.config.model_type == "zoedepth":
            from .depth_processors import zoedepth_postprocess

            pad = bool(getattr(self.processor, "do_pad", True))
            return zoedepth_postprocess(out.predicted_depth[0].float().cpu(), (h, w), pad), None
        post = self.processor.post_process_depth_estimation(out, target_sizes=[(h, w)])[0]
        raw = post["predicted_depth"].float().cpu().numpy()
        focal = post.get("focal_length")
        return raw, (float(focal) if focal is not None else None)

    def estimate(self, image: np.ndarray) -> DepthEstimate:
        h, w = image.shape[:2]
        raw, focal = self.predict(image)
        K = None
        if focal is not None and np.isfinite(focal) and focal > 0:
            K = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1.0]])
        src = f"transformers:{self.model_dir.name}"
        if self.metric:
            depth = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0).astype(np.float32)
            return DepthEstimate(depth, K, True, src, "metric (m)")
        return DepthEstimate(disparity_to_depth(raw), K, False, src, RELATIVE_UNITS)


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
