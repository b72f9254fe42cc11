"""The ``warp`` backend: no learning — render the 3D cache and fill its holes by inpainting.

The honest baseline of the benchmarks. Frames are made one after another; the filled pixels of
each frame are unprojected (with inpainted depth) into a scratch cloud that later frames render
too, so a fill made once is reused consistently instead of being re-invented in every frame.

Nothing in a warp frame is a new observation: its visible pixels re-render the cache (with the
splat's blended depth and colour) and its holes are inpainted guesses. The result says so
(``derived``) and rates its pixels for the cache (``confidence``, :func:`merge_confidence`), so the
cache merges the frames as soft points that densify it where its samples are sparse and extend it
by the fills it can trust, without displacing or hiding the input's points.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ...camera import Cameras
from ...geometry import PointCloud, depth_to_points, render_points
from .base import GenerationRequest, GenerationResult, Generator, Progress

INPAINT_RADIUS = 5
COPY_CONFIDENCE = 1.0  # a pixel re-rendered from the cache: its depth, splat-blurred colour
FILL_CONFIDENCE = 0.5  # an inpainted pixel near the render: interpolated colour and depth
# Fills farther than this (px) from every rendered pixel are not merged into the cache: their depth
# is carried in from the hole's edge (inpaint_depth), a guess off by a median 16-34% of the true
# depth on the object sample (256 px, 21 frames; 0.6-5.6% within this reach), so re-rendered from
# a later trajectory's angle they land in the wrong place and cost more than inpainting afresh
# (there, GGM on - off for 'left': -0.15 dB merging every fill, +0.17 dB with this reach).
FILL_REACH = INPAINT_RADIUS


def inpaint(image: np.ndarray, hole: np.ndarray, radius: int = INPAINT_RADIUS) -> np.ndarray:
    """OpenCV Telea inpainting of (H, W, 3) float [0, 1] where ``hole`` is true."""
    if not hole.any():
        return image
    u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = cv2.inpaint(u8, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255.0


def _carry(depth: np.ndarray, valid: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """Each pixel gets the depth of the last valid pixel before it along ``axis`` (0 if none)."""
    d, v = (np.flip(depth, axis), np.flip(valid, axis)) if reverse else (depth, valid)
    n = d.shape[axis]
    idx = np.where(v, np.arange(n).reshape((-1, 1) if axis == 0 else (1, -1)), -1)
    idx = np.maximum.accumulate(idx, axis=axis)
    out = np.take_along_axis(d, np.clip(idx, 0, None), axis=axis)
    out = np.where(idx >= 0, out, 0.0)
    return np.flip(out, axis) if reverse else out


def inpaint_depth(depth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill holes with the *farthest* of the nearest valid depths to the left, right, above and below.

    A disocclusion is background revealed behind a foreground edge, so its depth is the far side of
    that edge; a nearest-value fill would put part of it on the foreground object and leave floaters
    in the cache that occlude the true background in later views.
    """
    valid = ~hole & (depth > 0)
    if not valid.any() or valid.all():
        return depth
    cands = [_carry(depth, valid, axis, rev) for axis in (0, 1) for rev in (False, True)]
    return np.where(valid, depth, np.max(cands, axis=0)).astype(np.float32)


def merge_confidence(hole: np.ndarray) -> np.ndarray:
    """(H, W) trust of a warp frame's pixels for the cache, from its render's hole mask: copies of
    the render COPY_CONFIDENCE, fills within FILL_REACH px of a copy FILL_CONFIDENCE, deeper fills 0."""
    if not hole.any():
        return np.full(hole.shape, COPY_CONFIDENCE, np.float32)
    if hole.all():
        return np.zeros(hole.shape, np.float32)
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    return np.where(~hole, COPY_CONFIDENCE, np.where(dist <= FILL_REACH, FILL_CONFIDENCE, 0.0)).astype(np.float32)


def warp_fill(image: np.ndarray, renders: np.ndarray, render_depth: np.ndarray, masks: np.ndarray, cams: Cameras,
              progress: Optional[Progress] = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The warp baseline's frames: image (H, W, 3) the first frame, renders (N, H, W, 3), render_depth
    (N, H, W), masks (N, H, W) (> 0.5 = hole) of the cache at ``cams`` -> (frames (N, H, W, 3), depth
    (N, H, W), number of fill points). Frame by frame, a hole is first taken from the fills of earlier
    frames (a scratch cloud, re-rendered), and what is left is Telea-inpainted and unprojected with
    :func:`inpaint_depth` into that cloud. Training uses it too, so a model that corrects this fill
    learns on the fill it is given at inference."""
    n, h, w = len(cams), cams.height, cams.width
    frames = np.zeros((n, h, w, 3), np.float32)
    depth = np.zeros((n, h, w), np.float32)
    fills: Optional[PointCloud] = None
    for i in range(n):
        rgb, d, hole = np.array(renders[i], np.float32), np.array(render_depth[i], np.float32), masks[i] > 0.5
        if fills is not None:
            extra = render_points(fills, cams[i], h, w)
            take = hole & (extra.mask[0].numpy() < 0.5)
            rgb[take] = extra.rgb[0].numpy()[take]
            d[take] = extra.depth[0].numpy()[take]
            hole = hole & ~take
        d = inpaint_depth(d, hole)
        if i == 0:  # the first frame is the input image itself; only its depth needs filling
            rgb = np.array(image, np.float32)
        elif hole.any():
            rgb = inpaint(rgb, hole)
            new = depth_to_points(np.where(hole, d, 0.0).astype(np.float32), cams[i], rgb,
                                  edge_threshold=None, far_contract=None)
            fills = new if fills is None else PointCloud.concat([fills, new])
        frames[i], depth[i] = rgb, d
        if progress is not None:
            progress(i + 1, n, "frame")
    return frames, depth, 0 if fills is None else len(fills)


class WarpGenerator(Generator):
    """Cache render + inpainting, temporally consistent through a scratch cloud of fills."""

    name = "warp"

    def generate(self, request: GenerationRequest, progress: Optional[Progress] = None) -> GenerationResult:
        frames, depth, n_fill = warp_fill(request.image, request.renders, request.render_depth, request.masks,
                                          request.cameras, progress)
        confidence = np.stack([merge_confidence(m > 0.5) for m in request.masks])
        return GenerationResult(frames, depth, "warp", {"fill": "opencv-telea", "fill_points": n_fill},
                                confidence=confidence, derived=True)
