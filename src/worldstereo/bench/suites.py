"""The fixed benchmark suites: which synthetic scenes, sizes and trajectories each bench runs.

``quick`` is sized to finish in a few minutes on a 2-core CPU with the ``warp`` generator (it is
what the test suite runs); ``full`` is the same protocol with more scenes, frames and pixels. All
scenes are bundled synthetic samples, so every generated frame has a ground truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..camera import Cameras, CameraTrajectory, default_plan, pan, rotate, spline, truck

# Memory settings of the reconstruction benchmark (name -> use_ggm, use_ssm).
MEMORY_SETTINGS = {"none": (False, False), "ggm": (True, False), "full": (True, True)}
# Rows of paper Table 5 (name -> use_ggm, use_ssm, sampler); dmd exists for learned generators only.
ABLATION_ROWS = {"baseline": (False, False, None), "ggm": (True, False, None), "full": (True, True, None),
                 "dmd": (True, True, "dmd")}
# Trajectory orders of paper Table 7 (its panorama study, here on a single image).
ALL_ORDERS = ("orbit,up,right,left", "up,right,left,orbit", "orbit,right,left,up", "up,orbit,right,left",
              "right,left,up,orbit", "right,left,orbit,up")


@dataclass(frozen=True)
class Suite:
    """One bench at one size: ``scenes`` are bundled sample names, images are at most ``side`` pixels
    on the long side, every trajectory has ``frames`` frames."""

    bench: str
    size: str
    scenes: tuple[str, ...]
    side: int
    frames: int
    recon_resolution: int = 128
    tau_ratio: float = 0.02  # F-score threshold as a share of the ground truth's bounding-box diagonal
    tau_max_ratio: float = 0.05  # AUC of F over (0, tau_max]
    revisit_iou: float = 0.5  # frustum IoU with an earlier generated frame that makes a view "revisited"
    orders: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self)


SUITES = {
    ("camera", "quick"): Suite("camera", "quick", ("room",), side=192, frames=9),
    ("camera", "full"): Suite("camera", "full", ("room", "object"), side=320, frames=21),
    ("recon", "quick"): Suite("recon", "quick", ("object",), side=128, frames=9, recon_resolution=128),
    ("recon", "full"): Suite("recon", "full", ("object", "room"), side=256, frames=21, recon_resolution=256),
    ("memory", "quick"): Suite("memory", "quick", ("object",), side=96, frames=9, orders=ALL_ORDERS[:3]),
    ("memory", "full"): Suite("memory", "full", ("object", "room"), side=256, frames=21, orders=ALL_ORDERS),
}


def get_suite(bench: str, size: str) -> Suite:
    if (bench, size) not in SUITES:
        raise ValueError(f"no {size!r} suite for bench {bench!r}; sizes: quick, full")
    return SUITES[(bench, size)]


def _compose(a: CameraTrajectory, b: CameraTrajectory, name: str) -> CameraTrajectory:
    """Frame-wise ``b ∘ a``: move as ``a`` and turn as ``b`` at once."""
    T = np.einsum("nij,njk->nik", b.cameras.cam_from_world, a.cameras.cam_from_world)
    cams = Cameras(a.cameras.K, T, a.cameras.width, a.cameras.height)
    return CameraTrajectory(cams, name=name, kind="combined", fps=a.fps)


def camera_trajectories(depth: float, K: np.ndarray, width: int, height: int, n: int) -> list[CameraTrajectory]:
    """Paper §4.2's motion types, one each: translation, rotation (about the scene), panning, combined."""
    c = dict(K=K, width=width, height=height, n_frames=n)
    move = truck(0.2 * depth, 0.05 * depth, name="translation", **c)
    turn = pan(20.0, 5.0, name="panning", **c)
    return [move, rotate("right", 30.0, depth, name="rotation", **c), turn, _compose(move, turn, "combined")]


def revisit_trajectories(depth: float, K: np.ndarray, width: int, height: int, n: int) -> list[CameraTrajectory]:
    """Two sweeps, then two paths that come back to where the sweeps ended by another way: the later
    trajectories' second halves revisit views that only an earlier generation has seen."""
    c = dict(K=K, width=width, height=height, n_frames=n)
    right, up = rotate("right", 40.0, depth, name="right", **c), rotate("up", 30.0, depth, name="up", **c)
    via_up, via_right = rotate("up", 15.0, depth, **c).cameras[-1], rotate("right", 20.0, depth, **c).cameras[-1]
    start = right.cameras[0]
    back_right = spline(Cameras.concat([start, via_up, right.cameras[-1]]), n, name="revisit_right")
    back_up = spline(Cameras.concat([start, via_right, up.cameras[-1]]), n, name="revisit_up")
    return [right, up, back_right, back_up]


def plan_trajectories(depth: float, K: np.ndarray, width: int, height: int, n: int) -> list[CameraTrajectory]:
    """The paper's reconstruction plan (App. C): orbit, up 45, right 90, left 90."""
    return default_plan(depth, K, width, height, n)
