"""Top and side views of a planning step: known free / occupied / unknown space of the grid (the
layers through the input camera), the candidates that were refused (grey), admitted (blue) and the
one chosen (red, with frustums)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic import atomic_path
from ..camera import CameraTrajectory
from ..camera.plot import frustum_corners
from ..geometry.voxels import VoxelGrid

# (title, grid axis summed away, horizontal axis, vertical axis, vertical sign, labels)
_VIEWS = (("top (x-z)", 1, 0, 2, 1.0, "x (right)", "z (forward)"),
          ("side (z-up)", 0, 2, 1, -1.0, "z (forward)", "-y (up)"))
_COLOURS = np.array([[0.82, 0.82, 0.82], [1.0, 1.0, 1.0], [0.25, 0.25, 0.3]])  # unknown, free, occupied


def _slice(grid: VoxelGrid, axis: int) -> np.ndarray:
    """(A, B) UNKNOWN / FREE / OCCUPIED of the voxel layer across ``axis`` through the input camera
    (a projection would be all floor and ceiling in a room)."""
    k = int(np.clip(np.floor(-grid.origin[axis] / grid.voxel), 0, grid.shape[axis] - 1))
    return np.take(grid.state, k, axis=axis)


def plot_plan(grid: VoxelGrid, step: dict, chosen: Optional[CameraTrajectory], path: str | os.PathLike) -> Path:
    """Write the PNG of one planner step (``step`` as recorded in run.json's ``plan``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4))
    lo, hi = grid.origin, grid.origin + np.array(grid.shape) * grid.voxel
    for ax, (title, away, a, b, sign, xl, yl) in zip(axes, _VIEWS):
        proj = _slice(grid, away)
        img = _COLOURS[proj.T if a < b else proj]  # rows follow axis b, columns axis a
        y0, y1 = (lo[b], hi[b]) if sign > 0 else (-hi[b], -lo[b])
        ax.set_facecolor(_COLOURS[0])  # outside the grid is unknown too
        ax.imshow(img if sign > 0 else img[::-1], origin="lower", extent=(lo[a], hi[a], y0, y1), interpolation="nearest")
        for c in step["candidates"]:
            p = np.asarray(c["path"])
            colour, lw = ("tab:blue", 1.0) if c["accepted"] else ("0.55", 0.6)
            ax.plot(p[:, a], sign * p[:, b], "-", color=colour, lw=lw, alpha=0.8)
        if chosen is not None:
            fr = frustum_corners(chosen, 0.04 * float(np.max(hi - lo)))
            ax.plot(fr[:, 0, a], sign * fr[:, 0, b], "-", color="tab:red", lw=2.2, label=chosen.name)
            for k in range(0, len(chosen), max(1, len(chosen) // 6)):
                for q in fr[k, 1:]:
                    ax.plot([fr[k, 0, a], q[a]], [sign * fr[k, 0, b], sign * q[b]], color="tab:red", lw=0.6)
        ax.plot(0.0, 0.0, "o", color="k", ms=4)
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_aspect("equal")
    n_ok = sum(c["accepted"] for c in step["candidates"])
    what = f"chose {step['chosen']}" if step["chosen"] else f"stopped: {step.get('stop', '')}"
    fig.suptitle(f"plan step {step['step']}: {what}; {n_ok} of {len(step['candidates'])} candidates admissible "
                 "(white free, light grey unknown, dark occupied; blue admitted, grey refused)", fontsize=9)
    if chosen is not None:
        axes[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
