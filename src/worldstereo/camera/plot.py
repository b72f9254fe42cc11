"""Top and side views of camera trajectories (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_path
from .trajectory import CameraTrajectory

# View axes: top view looks down on the x-z ground plane; side view shows z (forward) against
# -y (up), so "up" is up on the page in both conventions a reader expects.
_VIEWS = (("top (x-z)", 0, 2, 1.0, "x (right)", "z (forward)"), ("side (z-up)", 2, 1, -1.0, "z (forward)", "-y (up)"))


def frustum_corners(traj: CameraTrajectory, scale: float) -> np.ndarray:
    """(N, 5, 3) world points of each camera's centre and image corners at depth ``scale``."""
    cams = traj.cameras
    w, h = cams.width, cams.height
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    pix = np.broadcast_to(corners, (len(cams), 4, 2))
    far = cams.unproject(pix, np.full((len(cams), 4), scale))
    return np.concatenate([cams.centers[:, None], far], 1)


def plot_trajectories(trajs: Sequence[CameraTrajectory], path: str | os.PathLike, every: int | None = None,
                      title: str | None = None) -> Path:
    """Write a PNG with top and side views of the frustums of every trajectory (one colour each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not trajs:
        raise ValueError("plot_trajectories: no trajectories to plot")
    centers = np.concatenate([t.cameras.centers for t in trajs])
    extent = float(np.ptp(centers, axis=0).max()) or 1.0
    scale = 0.08 * extent
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    colors = plt.get_cmap("tab10")
    for ti, traj in enumerate(trajs):
        c = colors(ti % 10)
        fr = frustum_corners(traj, scale)
        step = every or max(1, len(traj) // 12)
        for ax, (_, a, b, sign, _, _) in zip(axes, _VIEWS):
            ax.plot(fr[:, 0, a], sign * fr[:, 0, b], "-", color=c, lw=1.5, label=traj.name)
            for k in list(range(0, len(traj), step)) + [len(traj) - 1]:
                o, p = fr[k, 0], fr[k, 1:]
                for q in p:
                    ax.plot([o[a], q[a]], [sign * o[b], sign * q[b]], color=c, lw=0.6, alpha=0.8)
                loop = np.vstack([p, p[:1]])
                ax.plot(loop[:, a], sign * loop[:, b], color=c, lw=0.6, alpha=0.8)
            ax.plot(fr[0, 0, a], sign * fr[0, 0, b], "o", color="k", ms=4)
    for ax, (name, _, _, _, xl, yl) in zip(axes, _VIEWS):
        ax.set_title(name)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title or ", ".join(t.name for t in trajs) + "  (black dot: first camera)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
