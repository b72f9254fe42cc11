"""Write docs/images/synthetic_contact_sheet.png: frames of the synthetic engine to eyeball.

Rows: rooms, an object scene, an outdoor scene (and one room with Lambert shading); columns: four
frames of a random collision-free trajectory, then the first frame's depth (turbo colour map).
Run: `python tools/synthetic_contact_sheet.py`.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from matplotlib import colormaps

from worldstereo.atomic import atomic_path
from worldstereo.data.datasets import collision_free_trajectory
from worldstereo.data.synthetic import make_scene, render

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "synthetic_contact_sheet.png"
ROWS = [("room", 4, "orbit", "none"), ("room", 6, "rotate", "none"), ("room", 1, "truck", "lambert"),
        ("object", 7, "orbit", "none"), ("object", 3, "rotate", "none"), ("outdoor", 2, "pan", "none")]
W, H = 224, 160


def main() -> None:
    rows = []
    for kind, seed, preset, shading in ROWS:
        scene = make_scene(seed, kind)
        rng = np.random.default_rng(seed)
        start = scene.sample_camera(rng, W, H, 65.0)
        traj = collision_free_trajectory(scene, start, preset, rng, 25)
        out = render(scene, traj.cameras[[0, 8, 16, 24]], shading=shading)
        d = out.depth[0]
        depth_rgb = colormaps["turbo"]((d - d.min()) / max(np.ptp(d), 1e-6))[..., :3]
        tiles = [*out.frames, depth_rgb.astype(np.float32)]
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=1.0) for t in tiles], 1))
    sheet = (np.concatenate(rows, 0) * 255).round().astype(np.uint8)
    with atomic_path(OUT) as tmp:
        iio.imwrite(tmp, sheet)


if __name__ == "__main__":
    main()
