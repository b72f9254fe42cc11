"""``--plan auto``: the next best trajectory, chosen from the memories before every trajectory.

Known free space is carved into a voxel grid (``geometry.voxels``) by the rays of every view the
memories hold (the input, the panorama's 27 views, each merged keyframe), with the surfaces of the
Cache3D as its occupied voxels. Candidates -- the presets at several angles and pivots, and splines
from the input camera to free-space waypoints -- are kept only when every camera and every
segment between cameras keeps ``clearance`` in known free space, the motion is smooth
(``check_smoothness``) and every scored view sees enough surface for the generator to hold on to
(``min_support``): known surface, or what an earlier view of the same trajectory sees
(``chained_support``). The kept candidate whose views would uncover the most new directions of
unknown space, less those the trajectories already chosen look at, wins; planning stops at the
budget or when the best gain is under ``min_gain``.

Everything is a deterministic function of the scene state, so a resumed run that replays its
finished trajectories re-plans exactly the same choices.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import numpy as np
from scipy import ndimage

from ..camera import PLAN_ORDER, CameraTrajectory, Cameras, check_smoothness, preset, spline
from ..camera.transforms import look_at
from ..geometry import render_points
from ..geometry.voxels import NOWHERE, VoxelGrid
from .scene_state import SceneState

log = logging.getLogger(__name__)

RAYS = (24, 40)  # rows x cols of rays cast per scored view


@dataclass(frozen=True)
class PlanConfig:
    """How ``--plan auto`` chooses; lengths, preset pivots included, are fractions of :func:`scale` (the
    median depth unless a far background or a near ground says otherwise); the paper's plan among the
    candidates keeps its pivot at the median depth, as ``--plan default`` makes it."""

    budget: int = 4  # at most this many trajectories
    min_gain: float = 0.05  # stop when the best candidate uncovers fewer unknown voxels than this per cast ray
    clearance: float = 0.06  # free space every camera and segment keeps around it
    voxel: float = 1 / 24  # grid voxel edge
    seed_radius: float = 0.25  # ball around the input camera taken as free (the camera stood there)
    min_support: float = 0.25  # least share of each scored view's rays reaching a supported surface (below)
    # True: a view's rays are supported where they reach a known surface or the surface an earlier view
    # of the same trajectory reaches (the video is made frame after frame, each from the ones before);
    # False: known surface only (every view must overlap the memories by itself)
    chained_support: bool = True
    # the gain counts the directions (bins of this many degrees, seen from the input camera) of the
    # expected new surface, so a view from a nearby centre at what was looked at already adds nothing;
    # 0: count distinct voxels of the expected surface instead
    gain_bin_deg: float = 2.5
    score_frames: int = 6  # views per candidate that are cast for gain and support
    # reconstruction needs parallax: the gain is weighted by ``parallax_floor + (1 - parallax_floor) *
    # min(1, angle / parallax_deg)``, angle = the largest angle the path's camera centres subtend at the
    # scene scale from the input camera's (a pan about the camera centre: 0, a quarter weight: multi-view stereo
    # finds nothing to triangulate in a pan, the Cache3D still grows); parallax_deg 0 turns it off
    parallax_deg: float = 10.0
    parallax_floor: float = 0.25
    waypoints: int = 10  # free-space waypoints for spline candidates
    max_cells: int = 96  # grid cells along its longest axis at most (the voxel grows past ``voxel`` beyond)
    # the input's open sky (rays through free space only, at least this share of them): unknown space above
    # its lowest elevation is expected to be sky, not new surface; 0: off
    sky_share: float = 0.1
    ground: bool = True  # rays going down into unknown space are expected to meet the seen floor/ground plane
    plane_scale: float = 4.0  # the scale is at most this many times the distance to the nearest seen plane; 0: off


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Candidates are judged by ``check_smoothness``; its warnings are for trajectories that run."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def scale(state: SceneState, cfg: Optional["PlanConfig"] = None) -> float:
    """The length the planner's fractions refer to: the median depth, but no more than twice the
    lower-quartile depth, so that a far background (an outdoor view that is half sky and distant
    hills) does not size the voxels and clearances of the near ground the cameras move over; and no
    more than ``plane_scale`` times the input camera's distance to the nearest bounding plane it sees
    (a camera 1.5 m above a field 50 m deep moves metres, not tens of metres)."""
    cfg = cfg or PlanConfig()
    d = np.asarray(state.depth, np.float64)
    d = d[np.isfinite(d) & (d > 0)]
    D = float(min(state.median_depth, 2.0 * np.percentile(d, 25))) if len(d) else state.median_depth
    planes = state.free_space.planes
    if cfg.plane_scale > 0 and len(planes):
        D = min(D, cfg.plane_scale * float(planes[:, 3].min()))
    return D


def ground_plane(state: SceneState) -> Optional[np.ndarray]:
    """(nx, ny, nz, c) of the bounding plane under the camera (the floor or the ground: its normal within
    30 deg of the camera's up, -y; n . x + c > 0 above it), or None when the input sees none."""
    planes = state.free_space.planes  # unit normals
    if len(planes):
        k = int(np.argmin(planes[:, 1]))  # the normal nearest the camera's up, -y
        if -float(planes[k, 1]) > np.cos(np.radians(30.0)):
            return planes[k]
    return None


def level_up(state: SceneState) -> np.ndarray:
    """The world's up direction as far as the input tells: the ground plane's normal, else the camera's up (-y)."""
    g = ground_plane(state)
    return np.array([0.0, -1.0, 0.0]) if g is None else g[:3]


def fill_holes(depth: np.ndarray, passes: int = 2) -> np.ndarray:
    """(N, H, W) rendered depth with its pinholes closed: a pixel no point landed on (0) takes the
    nearest depth of its 3 x 3 neighbours, ``passes`` times. The cache is de-duplicated at a voxel
    sized by the median depth, so where that is far (an outdoor view half sky) the near ground
    renders as scattered points, and rays through the gaps would carve nothing."""
    d = np.array(depth, np.float64)
    for _ in range(passes):
        hole = ~(d > 0)
        if not hole.any():
            break
        near = ndimage.minimum_filter(np.where(hole, np.inf, d), size=(1, 3, 3), mode="constant", cval=np.inf)
        fill = hole & np.isfinite(near)
        d[fill] = near[fill]
    return np.where(d > 0, d, 0.0)


def known_space(state: SceneState, cfg: PlanConfig = PlanConfig()) -> VoxelGrid:
    """The grid of known free space of ``state``: carved by the cache's firm points' depth seen from
    every observer camera (rendered small), occupied where the cache has points (soft ones too)."""
    D = scale(state, cfg)
    xyz = state.cache.points.xyz
    centers = np.concatenate([c.centers for c in state.observers])
    grid = VoxelGrid.bounding(xyz, centers, cfg.voxel * D, pad=0.3 * D, reach=3.0 * D, max_cells=cfg.max_cells)
    # only firm points carve: a generated frame's soft points are the generator's guesses (a `warp` fill
    # above an open room's walls would carve space outside the room); they still mark voxels occupied
    soft = state.cache.soft
    firm = state.cache.points.select(np.flatnonzero(~soft)) if soft.any() else state.cache.points
    for cams in state.observers:
        s = min(1.0, 64 / max(cams.width, cams.height))
        small = cams.resized(max(2, round(cams.width * s)), max(2, round(cams.height * s)))
        depth = fill_holes(render_points(firm, small, small.height, small.width).depth.numpy())
        for i in range(len(small)):
            grid.integrate(depth[i], small[i])
    grid.mark_surfaces(xyz)
    # the camera stood there, but no farther than half the nearest surface it saw: outdoors the
    # ground under the camera is out of view and nearer than a fraction of the scene's depth
    d = np.asarray(state.depth, np.float64)
    near = float(np.percentile(d[d > 0], 5)) if (d > 0).any() else D
    grid.seed_ball(state.input_camera.centers[0], min(cfg.seed_radius * D, 0.5 * near))
    return grid


def candidates(state: SceneState, grid: VoxelGrid, n: int, cfg: PlanConfig) -> list[tuple[str, CameraTrajectory]]:
    """(label, trajectory) of every candidate, in a fixed order; all start at the input camera."""
    D, K, w, h = scale(state, cfg), state.K, state.width, state.height
    out: list[tuple[str, CameraTrajectory]] = []

    def add(label: str, name: str, pivot: float, **kw) -> None:
        out.append((label, preset(name, pivot, K, w, h, n, **kw)))

    for r in (0.1, 0.2, 0.3):
        add(f"orbit-r{r}", "orbit", D, radius_ratio=r)
    for name, angles in (("up", (15, 30, 45)), ("down", (15, 30, 45)), ("left", (20, 45, 90)), ("right", (20, 45, 90))):
        for p in (0.5, 1.0):
            for a in angles:
                add(f"{name}-{a}-p{p}", name, p * D, degrees=float(a))
    for f in (0.2, 0.4, 0.6):
        add(f"dolly-{f}", "dolly", D, distance=f * D)
    for f in (-0.2, 0.2):
        add(f"truck-{f}", "truck", D, dx=f * D)
    for y in (-150, -120, -90, -60, -30, 30, 60, 90, 120, 150):
        for p in (-30, 0, 30):
            add(f"pan-{y}" if p == 0 else f"pan-{y}-{p}", "pan", D, yaw=float(y), pitch=float(p))
    for p in (-60, -45, -30, 30, 45, 60):
        add(f"tilt-{p}", "pan", D, yaw=0.0, pitch=float(p))
    # dolly in along the optical axis (where the input's free space is widest) while turning
    start = state.input_camera
    for f in (0.25, 0.5):
        for y in (-90, -45, 45, 90):
            c = np.array([0.0, 0.0, f * D])
            end = Cameras(K, look_at(c, c + np.array([np.sin(np.radians(y)), 0.0, np.cos(np.radians(y))])), w, h)
            out.append((f"dolly-pan-{f}-{y}", spline(Cameras.concat([start, end]), n, fps=16.0, name="spline")))
    # a pan with a short step towards where it turns: nearly the pan's view, with the parallax stereo needs
    # (a shorter move than the dollies above, so admissible where less free space is known around the camera)
    for f in (0.08, 0.15):
        for y in (-150, -90, 90, 150):
            for p in (-30, 0, 30):
                R = preset("pan", D, K, w, h, n, yaw=float(y), pitch=float(p)).cameras.R[-1]
                c = f * D * np.array([np.sign(y) * np.sqrt(0.5), 0.0, np.sqrt(0.5)])
                T = np.eye(4)
                T[:3, :3], T[:3, 3] = R, -R @ c
                end = Cameras(K, T, w, h)
                out.append((f"step-pan-{f}-{y}-{p}", spline(Cameras.concat([start, end]), n, fps=16.0, name="spline")))
    # the paper's plan as `--plan default` makes it (pivot brought nearer in front of seen surfaces)
    for name in PLAN_ORDER:
        traj = preset(name, state.median_depth, K, w, h, n)
        s = float(state.free_space.scale(traj.cameras.centers))
        out.append((f"default-{name}", preset(name, s * state.median_depth, K, w, h, n) if s < 1.0 else traj))
    for k, wp in enumerate(_waypoints(grid, cfg.clearance * D, cfg.waypoints)):
        targets = [(f"y{yaw}", wp + np.array([np.sin(np.radians(yaw)), 0.0, np.cos(np.radians(yaw))]))
                   for yaw in (-90, -45, 0, 45, 90)]
        # looking back at the middle of what is known keeps the generator's support on a long move
        targets += [(f"p{f}", np.array([0.0, 0.0, f * D])) for f in (0.5, 1.0)]
        for label, target in targets:
            if np.linalg.norm(target - wp) < 1e-6:
                continue
            end = Cameras(K, look_at(wp, target), w, h)
            out.append((f"spline-w{k}-{label}", spline(Cameras.concat([start, end]), n, fps=16.0, name="spline")))
    return out


def _waypoints(grid: VoxelGrid, clearance: float, k: int) -> np.ndarray:
    """Up to ``k`` voxel centres with twice the clearance, spread by farthest-point sampling from
    the one farthest from the input camera (deterministic)."""
    ijk = np.argwhere(grid.free)
    if len(ijk) == 0:
        return np.zeros((0, 3))
    pts = grid.centers(ijk)
    pts = pts[grid.clearance(pts) >= 2 * clearance]
    if len(pts) == 0:
        return pts
    chosen = [int(np.argmax(np.linalg.norm(pts, axis=1)))]
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    while len(chosen) < min(k, len(pts)):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[chosen[-1]], axis=1))
    return pts[chosen]


def _encode(keys: np.ndarray) -> np.ndarray:
    """One int64 per voxel key (P, 3) (keys are within +-2^20 of the grid: rays are cast a few scales)."""
    k = np.asarray(keys, np.int64) + (1 << 20)
    return (k[:, 0] << 42) | (k[:, 1] << 21) | k[:, 2]


_NEIGHBOURS = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)


def chained_support(seen: dict) -> np.ndarray:
    """(N,) per cast view: the share of its rays that end on a known surface, see nothing near (``clear``:
    the sky), or end within a voxel of where a ray of an earlier view of the same trajectory ends (its
    expected new surface included): what the generator has rendered or has already made when it
    reaches that view."""
    out, before = [], np.zeros(0, np.int64)
    for ends in seen["hits"]:
        hit = ends[:, 0] != NOWHERE
        known = np.zeros(len(ends), bool)
        known[hit] = np.isin(_encode(ends[hit]), before)
        # rays to a known surface count as known (their key is an occupied voxel of the grid)
        out.append(float(np.mean(known | seen["on_known"][len(out)] | seen["clear"][len(out)])))
        near = (ends[hit][:, None, :] + _NEIGHBOURS[None]).reshape(-1, 3)
        before = np.union1d(before, _encode(near))
    return np.array(out)


def _keys(grid: VoxelGrid, voxels: np.ndarray, cfg: PlanConfig, anchor: np.ndarray) -> np.ndarray:
    """The distinct int64 keys a gain counts for expected new-surface voxels (P, 3): their direction
    bins from ``anchor`` (``gain_bin_deg``), or the voxels themselves."""
    if cfg.gain_bin_deg <= 0 or len(voxels) == 0:
        return np.unique(_encode(voxels))
    v = grid.centers(voxels) - anchor
    r = np.maximum(np.linalg.norm(v, axis=1), 1e-12)
    az = np.floor(np.degrees(np.arctan2(v[:, 0], v[:, 2])) / cfg.gain_bin_deg).astype(np.int64)
    el = np.floor(np.degrees(np.arcsin(np.clip(v[:, 1] / r, -1, 1))) / cfg.gain_bin_deg).astype(np.int64)
    return np.unique((az + 100_000) * 1_000_000 + el + 100_000)


def parallax_angle(traj: CameraTrajectory, D: float) -> float:
    """Degrees: the largest angle between the path's camera centres seen from a point at distance ``D``
    in front of them, ``2 atan(b / 2D)`` for the largest distance ``b`` of a centre from the first one;
    what multi-view stereo triangulates the newly seen surface with."""
    c = traj.cameras.centers
    b = float(np.linalg.norm(c - c[0], axis=1).max())
    return float(np.degrees(2 * np.arctan2(b, 2 * D)))


def parallax_weight(angle: float, cfg: PlanConfig) -> float:
    """The gain's weight for a path with this parallax ``angle`` (see ``PlanConfig.parallax_deg``)."""
    if cfg.parallax_deg <= 0:
        return 1.0
    return cfg.parallax_floor + (1 - cfg.parallax_floor) * min(1.0, angle / cfg.parallax_deg)


def evaluate(grid: VoxelGrid, traj: CameraTrajectory, cfg: PlanConfig, D: float,
             prior: Optional[np.ndarray] = None, anchor: Optional[np.ndarray] = None,
             hints: Optional[dict] = None) -> dict:
    """Constraints and gain of one candidate: ``accepted`` with ``gain`` (unknown voxels uncovered
    that ``prior`` -- the encoded voxels the trajectories already chosen look at -- does not hold)
    or the ``reason`` it is refused."""
    anchor = traj.cameras.centers[0] if anchor is None else anchor
    path = grid.path_clearance(traj.cameras.centers)
    need = cfg.clearance * D
    row: dict = {"clearance": round(float(path.min()) / D, 4)}
    if path.min() < need:
        bad = int(np.argmax(path < need))
        return {**row, "accepted": False, "reason": f"camera {bad} or the segment to it leaves known free space "
                                                     f"(clearance {path[bad] / D:.3f} < {cfg.clearance} x depth)"}
    with _quiet("worldstereo.camera.presets"):
        rough = check_smoothness(traj).rough_steps
    if rough:
        return {**row, "accepted": False, "reason": f"not smooth at steps {list(rough)[:5]}"}
    seen = cast(grid, traj, cfg, D, hints)
    support = chained_support(seen) if cfg.chained_support else seen["support"]
    voxels = _keys(grid, seen["voxels"], cfg, anchor)
    if prior is not None and len(prior):
        voxels = voxels[~np.isin(voxels, prior)]
    n_rays = len(seen["hits"]) * RAYS[0] * RAYS[1]
    angle = parallax_angle(traj, D)
    weight = parallax_weight(angle, cfg)
    row.update(support=round(float(support.min()), 4), known_support=round(float(seen["support"].min()), 4),
               new=round(float(seen["new"].mean()), 4), parallax_deg=round(angle, 2),
               gain=round(weight * len(voxels) / n_rays, 4))
    if support.min() < cfg.min_support:
        return {**row, "accepted": False, "reason": f"a view sees too little supported surface "
                                                     f"(support {support.min():.2f} < {cfg.min_support})"}
    return {**row, "accepted": True}


def open_sky(grid: VoxelGrid, state: SceneState, cfg: PlanConfig, D: float) -> Optional[tuple[np.ndarray, float]]:
    """(up, sine of an elevation) above which the input saw open sky, or None: when at least ``sky_share``
    of the input's rays pass through free space only (out of the grid, nothing near), the 5th percentile
    of their elevations above the level (:func:`level_up`). Unknown space up there is expected to be sky
    too: a view looking up behind the camera outdoors uncovers nothing."""
    if cfg.sky_share <= 0:
        return None
    seen = grid.cast(state.observers[0], rays=RAYS, max_range=4.0 * D)
    clear, dirs = np.concatenate(seen["clear"]), np.concatenate(seen["dirs"])
    if clear.mean() < cfg.sky_share:
        return None
    up = level_up(state)
    return up, float(np.percentile(dirs[clear] @ up, 5))


def scene_priors(grid: VoxelGrid, state: SceneState, cfg: PlanConfig, D: float) -> dict:
    """What the gain expects where nothing is known: ``sky`` (:func:`open_sky`) and ``ground`` = (unit
    normal, offset) of :func:`ground_plane` (None: not seen, or ``cfg.ground`` off)."""
    g = ground_plane(state) if cfg.ground else None
    return {"sky": open_sky(grid, state, cfg, D),
            "ground": None if g is None else (g[:3], float(g[3]))}


def cast(grid: VoxelGrid, traj: CameraTrajectory, cfg: PlanConfig, D: float, hints: Optional[dict] = None) -> dict:
    """``VoxelGrid.cast`` of the trajectory's ``score_frames`` views (``hints``: the ``sky`` and
    ``ground`` of :func:`scene_priors`), and ``on_known`` (N, R): which rays end on a known surface."""
    idx = np.unique(np.linspace(0, len(traj) - 1, cfg.score_frames).round().astype(int))
    seen = grid.cast(traj.cameras[idx], rays=RAYS, max_range=4.0 * D, expected_depth=D, **(hints or {}))
    seen["on_known"] = [grid.occupied_keys(e) for e in seen["hits"]]
    return seen


def _path(traj: CameraTrajectory, points: int = 9) -> list[list[float]]:
    """A few camera centres of a path, for the record and the viewer."""
    idx = np.unique(np.linspace(0, len(traj) - 1, points).round().astype(int))
    return np.round(traj.cameras.centers[idx], 4).tolist()


class AutoPlanner:
    """Yields the next best trajectory for the current state (``next``) and records each decision."""

    def __init__(self, state: SceneState, n_frames: int, cfg: PlanConfig = PlanConfig()):
        self.state = state
        self.n_frames = n_frames
        self.cfg = cfg
        self.steps: list[dict] = []
        self.chosen: list[CameraTrajectory] = []
        self.grid: Optional[VoxelGrid] = None  # the grid of the latest step (for plots)

    @property
    def budget(self) -> int:
        return self.cfg.budget

    def record(self) -> dict:
        """The ``plan`` entry of run.json."""
        return {"mode": "auto", "config": asdict(self.cfg), "steps": self.steps}

    def next(self) -> Optional[CameraTrajectory]:
        """The best admissible candidate from the state as it is now, or None to stop."""
        k = len(self.chosen)
        if k >= self.cfg.budget:
            return None
        D = scale(self.state, self.cfg)
        grid = self.grid = known_space(self.state, self.cfg)
        used = {t.name.split("-", 1)[1] for t in self.chosen}
        # what the trajectories already chosen look at is not new again, whether or not the generator
        # made a surface there that the memories kept
        prior = np.zeros(0, np.int64)
        anchor = self.state.input_camera.centers[0]
        hints = scene_priors(grid, self.state, self.cfg, D)
        for t in self.chosen:
            prior = np.union1d(prior, _keys(grid, cast(grid, t, self.cfg, D, hints)["voxels"], self.cfg, anchor))
        rows = []
        best: Optional[tuple[float, int, CameraTrajectory]] = None
        for i, (label, traj) in enumerate(candidates(self.state, grid, self.n_frames, self.cfg)):
            if label in used:
                row = {"accepted": False, "reason": "already generated"}
            else:
                row = evaluate(grid, traj, self.cfg, D, prior, anchor, hints)
            rows.append({"name": label, "kind": traj.kind, **row, "path": _path(traj)})
            if row["accepted"] and (best is None or row["gain"] > best[0]):
                best = (row["gain"], i, traj)
        step = {"step": k, "grid": grid.counts(), "candidates": rows, "chosen": None,
                "sky_elevation_deg": None if hints["sky"] is None else round(float(np.degrees(np.arcsin(np.clip(hints["sky"][1], -1, 1)))), 2),
                "ground": None if hints["ground"] is None else np.round(np.append(*hints["ground"]), 4).tolist()}
        if best is None:
            step["stop"] = "no candidate keeps to known free space with support"
        elif best[0] < self.cfg.min_gain:
            step["stop"] = f"best gain {best[0]:.3f} < {self.cfg.min_gain}"
        else:
            name = f"a{k + 1}-{rows[best[1]]['name']}"
            step["chosen"] = name
            traj = CameraTrajectory(best[2].cameras, name=name, kind=best[2].kind, fps=best[2].fps)
            self.chosen.append(traj)
            log.info("plan step %d: %s (gain %.3f) of %d candidates, %d admissible", k, name, best[0], len(rows),
                     sum(r["accepted"] for r in rows))
        self.steps.append(step)
        return self.chosen[-1] if step["chosen"] else None
