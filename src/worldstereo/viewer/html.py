"""``viewer.html``: a self-contained, offline browser view of a run directory.

The page inlines three.js (``static/three.bundle.min.js``, vendored from npm by
``tools/vendor_three.sh``, turned from an ES module into a classic script that sets
``globalThis.THREE``), the run's geometry as JSON (cache points base64-encoded, frustum corners
precomputed here) and the small app ``static/viewer.js``. Videos are referenced by relative path, so
the page is opened from (or served with) its run directory and nothing is fetched from any network.

Run data is untrusted (a run folder can come from anyone): it enters the page only as JSON in a
``type="application/json"`` block, escaped so no text can end that block, and the app puts it into
the DOM as text. The page's only code is the two inline scripts and one style block this module
writes, each allowed by its SHA-256 in :func:`content_security_policy` (sent by the server, and
repeated in a ``<meta>`` tag for a page opened from disk), so any other script is never run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
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
from ..safepath import inside
from .rundata import RunContents, load_run, plan_paths, read_ply_mesh, read_ply_points

log = logging.getLogger(__name__)

POINT_BUDGET = 300_000
FACE_BUDGET = 1_000_000
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
    # Without geometry, look a little in front of the cameras (+z of the input view), which is
    # where a single-image scene lies.
    return c.mean(0) + np.array([0, 0, 1.0]), max(4.0 * float(np.ptp(c, 0).max()), 1.0)


def _points_layer(path: Path, budget: int) -> tuple[dict, np.ndarray]:
    xyz, rgb = read_ply_points(path)
    total = len(xyz)
    xyz, rgb = subsample_points(xyz, rgb, budget)
    return {"n": int(len(xyz)), "total": int(total), "xyz": _b64(xyz.astype("<f4")), "rgb": _b64(rgb)}, xyz


def _mesh_layer(path: Path, face_budget: int) -> tuple[dict, np.ndarray]:
    xyz, rgb, tris = read_ply_mesh(path)
    if len(tris) > face_budget:
        raise ValueError(f"{len(tris)} triangles, over the viewer's budget of {face_budget}; open it in a mesh viewer")
    return {"vertices": int(len(xyz)), "faces": int(len(tris)), "xyz": _b64(xyz.astype("<f4")), "rgb": _b64(rgb),
            "index": _b64(tris.astype("<u4"))}, xyz


def viewer_data(run: RunContents, point_budget: int = POINT_BUDGET, face_budget: int = FACE_BUDGET) -> dict:
    """The JSON the page reads: point and mesh layers, frustums, video paths, references, missing files."""
    missing = list(run.missing)
    layers, xyz = {}, None
    for key, path, make, budget in (("cache", run.cache_ply, _points_layer, point_budget),
                                    ("points", run.reconstruction_points, _points_layer, point_budget),
                                    ("mesh", run.reconstruction_mesh, _mesh_layer, face_budget)):
        if path is not None:
            try:
                layers[key], layer_xyz = make(path, budget)
            except ValueError as exc:
                missing.append(f"{path.relative_to(run.root)}: {str(exc).removeprefix(str(path) + ': ')}")
                continue
            xyz = layer_xyz if xyz is None else xyz  # the first layer present sets the view
    center, extent = _extent(run, xyz)
    scale = 0.03 * extent
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
    plan = plan_paths(run.record, missing)
    return {
        "title": run.root.resolve().name, "center": center.round(5).tolist(), "extent": extent, "scale": scale,
        "layers": layers, "trajectories": trajectories, "bank": bank,
        "statuses": {t.name: t.status for t in run.trajectories}, "missing": missing, "plan": plan,
    }


_EXPORTS = re.compile(r"export\s*\{([^}]*)\};?\s*$")
_EXPORT_ITEM = re.compile(r"\s*([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?\s*")


@functools.lru_cache(maxsize=1)
def three_script() -> str:
    """The vendored three.js ES module as a classic script that sets ``globalThis.THREE``.

    A module would have to be imported from a ``data:`` URL (an inline module cannot export), and
    allowing ``data:`` scripts would defeat the CSP; a classic inline script is allowed by its hash,
    and, unlike an external module, it also runs in a page opened from disk.
    """
    text = _static("three.bundle.min.js")
    match = _EXPORTS.search(text)
    if match is None or "import" in text[:200] or re.search(r"\bexport\s*[{*]", text[:match.start()]):
        raise ValueError("three.bundle.min.js: expected one trailing export list; rebuild it with tools/vendor_three.sh")
    pairs = []
    for item in match.group(1).split(","):
        m = _EXPORT_ITEM.fullmatch(item)
        if m is None:
            raise ValueError(f"three.bundle.min.js: cannot read the export {item.strip()[:40]!r}")
        pairs.append(f"{m.group(2) or m.group(1)}:{m.group(1)}")
    return ('(function(){"use strict";\n' + text[:match.start()]
            + "\nglobalThis.THREE=Object.freeze({" + ",".join(pairs) + "});\n})();")


def _inline(text: str, what: str) -> str:
    """``text`` checked to be safe inside a ``<script>`` or ``<style>`` element of HTML."""
    if re.search(r"</(script|style)|<!--", text, re.I):
        raise ValueError(f"{what}: holds a sequence that would end its HTML element early")
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@functools.lru_cache(maxsize=1)
def page_code() -> tuple[str, str, str]:
    """The page's inline code: (three.js script, app script, style sheet), exactly as written in it."""
    return (_inline(three_script(), "three.bundle.min.js"), _inline(_static("viewer.js"), "viewer.js"),
            _inline(_static("viewer.css"), "viewer.css"))


def content_security_policy(meta: bool = False) -> str:
    """The page's Content-Security-Policy: its own two scripts and style sheet (by hash), images and
    videos of the run's own origin, nothing else. ``meta``: the form for a ``<meta>`` tag, which may
    not carry ``frame-ancestors``."""
    three, app, style = page_code()
    policy = [
        "default-src 'none'",
        f"script-src {_sha256(three)} {_sha256(app)}",
        f"style-src {_sha256(style)}",
        "img-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if not meta:
        policy.append("frame-ancestors 'none'")
    return "; ".join(policy)


def script_json(data: object) -> str:
    """JSON that can sit inside a ``<script>`` element: nothing in it can close the element, open a
    comment or end a line in a JS parser (``<``, ``>``, ``&``, U+2028, U+2029 as ``\\uXXXX``)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def render_viewer(run_dir: str | os.PathLike, point_budget: int = POINT_BUDGET, face_budget: int = FACE_BUDGET) -> str:
    """The page's HTML text for ``run_dir`` (see :func:`write_viewer`)."""
    run = load_run(run_dir)
    data = viewer_data(run, point_budget, face_budget)
    three, app, style = page_code()
    values = {"TITLE": html.escape(data["title"]), "CSP": html.escape(content_security_policy(meta=True)),
              "STYLE": style, "DATA": script_json(data), "THREE": three, "APP": app}
    # One pass, so text inserted for one placeholder is never searched for another.
    return re.sub(r"__(TITLE|CSP|STYLE|DATA|THREE|APP)__", lambda m: values[m.group(1)], _static("viewer.html"))


def page_is_current(path: str | os.PathLike) -> bool:
    """Whether the page at ``path`` carries this version's code (else the CSP would block it: rewrite it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return all(f">{code}</" in text for code in page_code())


def write_viewer(run_dir: str | os.PathLike, point_budget: int = POINT_BUDGET, face_budget: int = FACE_BUDGET) -> Path:
    """Write ``viewer.html`` into ``run_dir`` and return its path.

    Shows the cache point cloud and the reconstruction's points and mesh when present (each point
    layer subsampled to ``point_budget``; a mesh over ``face_budget`` triangles is listed as not
    shown), every trajectory's frustums, the memory-bank frustums and the trajectory videos with a
    frame slider; files that are missing in a partial run are listed on the page.
    """
    page = render_viewer(run_dir, point_budget, face_budget)  # refuses a folder that is not a run
    # only inside the run: a viewer.html that is a link out of it is refused, not followed
    path = inside(Path(run_dir) / "viewer.html", run_dir)
    atomic_write_text(path, page)
    log.info("wrote %s", path)
    return path
