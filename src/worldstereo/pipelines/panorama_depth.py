"""Panorama depth from a perspective depth backend: run it on the overlapping bank views, align, fuse.

The views are the 27-view layout of :func:`worldstereo.geometry.panorama.panorama_views` at a
size the model sees well; the alignment and fusion are :mod:`worldstereo.geometry.panorama_depth`.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from ..camera import Cameras, look_at
from ..geometry.panorama import equirect_to_views, panorama_views
from ..geometry.panorama_depth import fuse_panorama_depth
from .depth import RELATIVE_UNITS, DepthBackend, DepthEstimate, TransformersDepth

log = logging.getLogger(__name__)

# View size of the depth pass: 120 x 90 degrees with square pixels (the bank's aspect).
VIEW_WIDTH, VIEW_HEIGHT = 416, 240


def depth_views(width: int = VIEW_WIDTH, height: int = VIEW_HEIGHT) -> Cameras:
    """The 27 bank views plus one looking straight up and one straight down: the bank's rows reach
    only +-71.6 degrees, so without these the poles would get no depth."""
    bank = panorama_views(width=width, height=height)
    poles = np.stack([look_at(np.zeros(3), np.array([0.0, -1.0, 1e-6])), look_at(np.zeros(3), np.array([0.0, 1.0, 1e-6]))])
    return Cameras(bank.K[0], np.concatenate([bank.cam_from_world, poles]), width, height)


def panorama_depth(pano: np.ndarray, predict: Callable[[np.ndarray], tuple[np.ndarray, bool]],
                   view_size: tuple[int, int] = (VIEW_WIDTH, VIEW_HEIGHT), align: bool = True) -> DepthEstimate:
    """Equirect distance map (He, We) of ``pano`` (He, We, 3).

    ``predict(view)`` -> (prediction (H, W), is_disparity): z-depth of a metric model, or the
    inverse depth of a relative one. Metric: the result keeps view 0's (forward) scale; relative:
    median distance 1.
    """
    he, we = pano.shape[:2]
    w, h = view_size
    views = depth_views(w, h)
    images = equirect_to_views(pano, views)
    preds, kinds = [], set()
    for img in images:
        p, disp = predict(np.clip(img, 0, 1).astype(np.float32))
        preds.append(np.asarray(p, np.float64))
        kinds.add(bool(disp))
    if len(kinds) != 1:
        raise ValueError("panorama_depth: the model mixed depth and inverse-depth outputs across views")
    disparity = kinds.pop()
    dist = fuse_panorama_depth(np.stack(preds), views, he, we, "disparity" if disparity else "depth", align)
    units = RELATIVE_UNITS.replace("median depth", "median distance") if disparity else "metric (m), forward view's scale"
    log.info("panorama depth from %d views (%s), aligned=%s", len(views), units, align)
    return DepthEstimate(dist, None, not disparity, f"panorama-views:{len(views)}", units)


def estimate_panorama(backend: DepthBackend, pano: np.ndarray) -> DepthEstimate:
    """The distance map of a panorama from any backend: a model runs on the views (a perspective
    model on a whole equirect image would be wrong); given / synthetic maps are used as they are."""
    if isinstance(backend, TransformersDepth):
        est = panorama_depth(pano, lambda view: (backend.predict(view)[0], not backend.metric))
        est.source = f"{backend.name}:{backend.model_dir.name}+{est.source}"
        return est
    return backend.estimate(pano)
