"""``viewer.html``: a self-contained, offline browser view of a run directory.

The page inlines three.js (``static/three.bundle.min.js``, vendored from npm by
``tools/vendor_three.sh``) through an import map of ``data:`` URLs, the run's geometry as JSON
(cache points base64-encoded, frustum corners precomputed here) and the small app
``static/viewer.js``. Videos are referenced by relative path, so the page is opened from (or served
with) its run directory and nothing is fetched from any network.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic import atomic_write_text
from ..camera import Cameras
from ..camera.plot import frustum_corners
from ..camera.trajectory import CameraTrajectory
from .rundata import RunContents, load_run, read_ply_points

log = logging.getLogger(__name__)

POINT_BUDGET = 300_000
# matplotlib's tab10, so the viewer and the report's plan plot colour trajectories alike.
TRAJECTORY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _static(name: str) -> str:
    return resources.files("worldstereo.viewer").joinpath("static", name).read_text(encoding="utf-8")


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def subsample_points(xyz: np.ndarray, rgb: np.ndarray, budget: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``budget`` points, drawn uniformly without replacement (deterministic for a seed)."""
    if len(xyz) <= budget:
        return xyz, rgb
    keep = np.sort(np.random.default_rng(seed).choice(len(xyz), budget, replace=False))
    return xyz[keep], rgb[keep]


def _corners(cams: Cameras, scale: float) -> list[float]:
    """Flat list of (N, 5, 3) frustum points: centre, then image corners at depth ``scale``."""
    traj = CameraTrajectory(cameras=cams)
    return np.round(frustum_corners(traj, scale), 5).ravel().tolist()


def _extent(run: RunContents, xyz: Optional[np.ndarray]) -> tuple[np.ndarray, float]:
    """A robust centre and size of the scene (points if any, else camera centres)."""
    if xyz is not None and len(xyz) >= 10:
        lo, hi = np.percentile(xyz, [2, 98], axis=0)
        return np.median(xyz, 0), max(float(np.linalg.norm(hi - lo)), 1e-3)
    centers = [t.trajectory.cameras.centers for t in run.trajectories if t.trajectory is not None]
    centers += [b.camera.centers for b in run.bank]
    if not centers:
        return np.zeros(3), 1.0
    c = np.concatenate(centers)
    return c.mean(0) + np.array([0, 0, 1.0]), max(4.0 * float(np.ptp(c, 0).max()), 1.0)


def viewer_data(run: RunContents, point_budget: int = POINT_BUDGET) -> dict:
    """The JSON the page reads: points, frustums, video paths, references, missing files."""
    xyz = rgb = None
    missing = list(run.missing)
    if run.cache_ply is not None:
        try:
            xyz, rgb = read_ply_points(run.cache_ply)
        except ValueError as exc:
            missing.append(f"cache.ply: {exc}")
    center, extent = _extent(run, xyz)
    scale = 0.03 * extent
    points = None
    if xyz is not None and len(xyz):
        total = len(xyz)
        xyz, rgb = subsample_points(xyz, rgb, point_budget)
        points = {"n": int(len(xyz)), "total": int(total), "xyz": _b64(xyz.astype("<f4")), "rgb": _b64(rgb.astype(np.uint8))}
    trajectories = []
    for i, t in enumerate(run.trajectories):
        if t.trajectory is None:
            continue
        trajectories.append({
            "name": t.name, "status": t.status, "color": TRAJECTORY_COLORS[i % len(TRAJECTORY_COLORS)],
            "fps": float(t.trajectory.fps), "n": len(t.trajectory), "corners": _corners(t.trajectory.cameras, scale),
            "videos": t.videos, "references": t.references,
        })
    bank = [{"index": b.index, "source": b.source, "image": b.image, "corners": _corners(b.camera, scale)} for b in run.bank]
    return {
        "title": run.root.resolve().name, "center": center.round(5).tolist(), "extent": extent, "scale": scale,
        "points": points, "trajectories": trajectories, "bank": bank,
        "statuses": {t.name: t.status for t in run.trajectories}, "missing": missing,
    }


def _import_map() -> str:
    three = "data:text/javascript;base64," + base64.b64encode(_static("three.bundle.min.js").encode()).decode("ascii")
    return json.dumps({"imports": {"three": three}})


def _script_json(data: dict) -> str:
    # "</" would end the <script> element early; JSON allows the escaped form.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def render_viewer(run_dir: str | os.PathLike, point_budget: int = POINT_BUDGET) -> str:
    """The page's HTML text for ``run_dir`` (see :func:`write_viewer`)."""
    run = load_run(run_dir)
    data = viewer_data(run, point_budget)
    values = {"TITLE": html.escape(data["title"]), "IMPORTMAP": _import_map(), "DATA": _script_json(data),
              "APP": _static("viewer.js")}
    # One pass, so text inserted for one placeholder is never searched for another.
    return re.sub(r"__(TITLE|IMPORTMAP|DATA|APP)__", lambda m: values[m.group(1)], _static("viewer.html"))


def write_viewer(run_dir: str | os.PathLike, point_budget: int = POINT_BUDGET) -> Path:
    """Write ``viewer.html`` into ``run_dir`` and return its path.

    Shows the cache point cloud (at most ``point_budget`` points), every trajectory's frustums, the
    memory-bank frustums and the trajectory videos with a frame slider; files that are missing in a
    partial run are listed on the page.
    """
    path = Path(run_dir) / "viewer.html"
    atomic_write_text(path, render_viewer(run_dir, point_budget))
    log.info("wrote %s", path)
    return path
