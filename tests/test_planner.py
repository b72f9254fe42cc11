"""Known free space (geometry.voxels) on an analytic box room, and --plan auto (pipelines.planner):
its constraints, resume determinism and the `trajectory plan` command."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from worldstereo.camera import Cameras, check_smoothness, intrinsics_from_fov, load_trajectory
from worldstereo.camera.transforms import look_at
from worldstereo.cli import app
from worldstereo.geometry.voxels import FREE, OCCUPIED, UNKNOWN, VoxelGrid
from worldstereo.pipelines.api import WorldStereo
from worldstereo.pipelines.planner import AutoPlanner, PlanConfig, known_space, scale

# a box room x in [-2, 2], y in [-1.5, 1.5], z in [-1, 5]; cameras stand at its middle
LO, HI = np.array([-2.0, -1.5, -1.0]), np.array([2.0, 1.5, 5.0])
MIDDLE = np.array([0.0, 0.0, 2.0])


def _box_depth(cam: Cameras) -> np.ndarray:
    """Exact z-depth of the box's inside seen by one camera (ray-box exit distance)."""
    h, w = cam.height, cam.width
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    K = cam.K[0]
    ray = np.stack([(jj - K[0, 2]) / K[0, 0], (ii - K[1, 2]) / K[1, 1], np.ones_like(jj)], -1)  # z = 1
    d = ray @ cam.world_from_cam[0, :3, :3].T
    o = cam.centers[0]
    with np.errstate(divide="ignore"):
        t = np.where(d > 0, (HI - o) / d, np.where(d < 0, (LO - o) / d, np.inf))
    return t.min(-1)  # t along a ray with camera z = 1 is the z-depth


def _box_points(n: int = 40) -> np.ndarray:
    g = np.linspace(0, 1, n)
    a, b = np.meshgrid(g, g)
    pts = []
    for axis in range(3):
        for side in (LO[axis], HI[axis]):
            other = [i for i in range(3) if i != axis]
            p = np.zeros((n * n, 3))
            p[:, axis] = side
            p[:, other[0]] = LO[other[0]] + a.ravel() * (HI - LO)[other[0]]
            p[:, other[1]] = LO[other[1]] + b.ravel() * (HI - LO)[other[1]]
            pts.append(p)
    return np.concatenate(pts)


@pytest.fixture(scope="module")
def room_grid() -> VoxelGrid:
    """The room carved by six views from its middle (a cube map: every direction seen)."""
    K = intrinsics_from_fov(90.0, 48, 48)
    pts = _box_points()
    grid = VoxelGrid.bounding(pts, MIDDLE[None], voxel=0.1, pad=0.3, reach=10.0)
    for target in np.eye(3).tolist() + (-np.eye(3)).tolist():
        up = np.array([0.0, 0.0, 1.0]) if abs(target[1]) == 1 else np.array([0.0, -1.0, 0.0])
        cam = Cameras(K, look_at(MIDDLE, MIDDLE + np.array(target), up), 48, 48)
        grid.integrate(_box_depth(cam), cam)
    grid.mark_surfaces(pts)
    return grid


def test_box_room_free_inside_occupied_walls_unknown_outside(room_grid):
    ijk, inside = room_grid.index(np.array([MIDDLE, [1.0, 0.5, 3.5], [-2.0, 0.0, 2.0], [3.0, 0.0, 2.0]]))
    state = room_grid.state[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    assert inside[:3].all() and not inside[3]
    assert state[0] == FREE and state[1] == FREE and state[2] == OCCUPIED
    # outside the walls: never carved, whatever the pad holds
    ijk, _ = room_grid.index(np.array([[2.2, 0.0, 2.0]]))
    assert room_grid.state[tuple(ijk[0])] == UNKNOWN


def test_box_room_clearance_is_the_distance_to_the_walls(room_grid):
    # 1.5 m from the floor/ceiling (y), 2 m from the side walls; within the grid's conservative voxel
    c = room_grid.clearance(MIDDLE[None])[0]
    assert 1.5 - 2 * room_grid.voxel <= c <= 1.5
    assert room_grid.clearance(np.array([[2.5, 0.0, 2.0]]))[0] == 0.0  # behind the wall


def test_box_room_path_through_a_wall_is_refused_and_along_it_accepted(room_grid):
    r = 0.2
    through = np.linspace(MIDDLE, [3.5, 0.0, 2.0], 9)  # ends outside the room
    assert room_grid.path_clearance(through).min() < r
    along = np.linspace([1.4, 0.0, 0.5], [1.4, 0.0, 4.0], 9)  # 0.6 m from the x = 2 wall
    assert room_grid.path_clearance(along).min() >= r
    # a pillar in the middle: both ends keep their clearance, the straight segment between them does not
    pillar = VoxelGrid(room_grid.origin, room_grid.voxel, room_grid.shape, room_grid.carved.copy(),
                       room_grid.occupied.copy(), room_grid.seeded.copy())
    lo, _ = pillar.index(np.array([[-0.2, -1.5, 1.8]]))
    hi, _ = pillar.index(np.array([[0.2, 1.49, 2.2]]))
    pillar.occupied[lo[0, 0]:hi[0, 0] + 1, lo[0, 1]:hi[0, 1] + 1, lo[0, 2]:hi[0, 2] + 1] = True
    ends = np.array([[-1.2, 0.0, 2.0], [1.2, 0.0, 2.0]])
    assert pillar.clearance(ends).min() >= r
    assert pillar.path_clearance(ends)[1] < r
    assert room_grid.path_clearance(ends).min() >= r


@pytest.mark.parametrize("gap, ok", [(0.15, False), (0.6, True)])
def test_box_room_clearance_is_respected_along_a_wall(room_grid, gap, ok):
    path = np.linspace([2.0 - gap, 0.0, 0.5], [2.0 - gap, 0.0, 4.0], 9)
    assert (room_grid.path_clearance(path).min() >= 0.3) == ok


def test_cast_counts_what_a_view_would_uncover(room_grid):
    K = intrinsics_from_fov(60.0, 32, 24)
    cam = Cameras(K, look_at(MIDDLE, MIDDLE + [0.0, 0.0, 1.0]), 32, 24)
    seen = room_grid.cast(cam, rays=(6, 8))
    assert seen["support"][0] == 1.0 and seen["new"][0] == 0.0 and len(seen["voxels"]) == 0
    half = VoxelGrid(room_grid.origin, room_grid.voxel, room_grid.shape, room_grid.carved.copy(),
                     room_grid.occupied.copy(), room_grid.seeded.copy())
    half.carved[:, :, half.index(MIDDLE[None])[0][0, 2] + 5:] = False  # forget the far half of the room
    half.occupied[:, :, half.index(MIDDLE[None])[0][0, 2] + 5:] = False
    seen = half.cast(cam, rays=(6, 8))
    assert seen["new"][0] == 1.0 and seen["support"][0] == 0.0 and len(seen["voxels"]) > 0


@pytest.fixture(scope="module")
def room_state():
    return WorldStereo.from_pretrained("warp", max_side=48).prepare("room").state


def test_planner_chooses_only_free_smooth_supported_paths(room_state):
    cfg = PlanConfig(budget=1)
    planner = AutoPlanner(room_state, 7, cfg)
    traj = planner.next()
    assert traj is not None and traj.name.startswith("a1-")
    step = planner.steps[0]
    rows = step["candidates"]
    assert any(not r["accepted"] for r in rows) and all(r["accepted"] or r["reason"] for r in rows)
    D = scale(room_state)
    grid = known_space(room_state, cfg)
    assert grid.path_clearance(traj.cameras.centers).min() >= cfg.clearance * D
    assert check_smoothness(traj).smooth
    assert np.allclose(traj.cameras.cam_from_world[0], np.eye(4), atol=1e-9)  # starts at the input view
    chosen = next(r for r in rows if r["name"] == step["chosen"].split("-", 1)[1])
    assert chosen["support"] >= cfg.min_support
    assert chosen["gain"] == max(r["gain"] for r in rows if r["accepted"])
    # the sample's ground truth agrees: every chosen camera stands in the scene's free space
    from worldstereo.data.samples import load_sample
    from worldstereo.eval import SyntheticGroundTruth

    truth = SyntheticGroundTruth.from_meta(load_sample("room").meta)
    assert truth.in_free_space(traj.cameras).all()
    assert planner.next() is None  # budget spent


def test_auto_run_resumes_by_replaying_and_replanning_identically(tmp_path):
    ws = WorldStereo.from_pretrained("warp", max_side=32)
    cfg = PlanConfig(budget=2, min_gain=0.0)

    def run(name, resume=False, stop=None):
        return ws.generate_scene("object", output_dir=tmp_path / name, resume=resume, n_frames=5, plan="auto",
                                 plan_config=cfg, on_trajectory_done=stop)

    full = run("full")
    assert len(full.trajectories) == 2

    class Killed(Exception):
        pass

    def kill(name):
        raise Killed

    with pytest.raises(Killed):
        run("part", stop=kill)
    part = json.loads((tmp_path / "part" / "run.json").read_text())
    assert len(part["plan"]["steps"]) == 1
    resumed = run("part", resume=True)
    assert [t.name for t in resumed.trajectories] == [t.name for t in full.trajectories]
    assert resumed.record["plan"] == full.record["plan"]
    assert resumed.record["cache_steps"][-1]["points"] == full.record["cache_steps"][-1]["points"]


def test_cli_trajectory_plan_prints_plots_and_saves(tmp_path):
    png, saved = tmp_path / "plan.png", tmp_path / "first.json"
    res = CliRunner().invoke(app, ["trajectory", "plan", "room", "-o", str(png), "--save", str(saved),
                                   "--max-side", "48", "--frames", "7", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    traj = load_trajectory(saved)
    assert traj.name == out["chosen"] and len(traj) == 7
    assert any(not c["accepted"] for c in out["candidates"])


def test_cli_generate_refuses_auto_with_trajectories(tmp_path):
    res = CliRunner().invoke(app, ["generate", "room", "-o", str(tmp_path / "r"), "--plan", "auto", "-t", "orbit",
                                   "--generator", "warp"])
    assert res.exit_code == 2 and "--plan auto chooses its own trajectories" in res.output


def test_cli_generate_plan_budget_and_min_gain_reach_the_planner(tmp_path):
    run = tmp_path / "r"
    res = CliRunner().invoke(app, ["generate", "room", "-o", str(run), "--plan", "auto", "--plan-budget", "1",
                                   "--plan-min-gain", "0", "--generator", "warp", "--max-side", "48", "--frames", "3"])
    assert res.exit_code == 0, res.output
    record = json.loads((run / "run.json").read_text())
    assert record["plan"]["config"]["budget"] == 1 and record["plan"]["config"]["min_gain"] == 0.0
    assert len(record["order"]) == 1 and record["order"][0].startswith("a1-")


def _coverage(truth, surf: np.ndarray, cams: Cameras) -> float:
    """Share of true surface points (run frame) seen unoccluded by some camera standing in true free space."""
    free = truth.in_free_space(cams)
    cams = cams[np.flatnonzero(free)]
    _, depth = truth.render(cams)
    seen = np.zeros(len(surf), bool)
    for i in range(len(cams)):
        T, K = cams.cam_from_world[i], cams.K[i]
        x = surf @ T[:3, :3].T + T[:3, 3]
        z = np.where(x[:, 2] > 1e-6, x[:, 2], np.inf)
        u, v = K[0, 0] * x[:, 0] / z + K[0, 2], K[1, 1] * x[:, 1] / z + K[1, 2]
        ok = np.isfinite(z) & (u >= 0) & (u < cams.width) & (v >= 0) & (v < cams.height)
        d = np.zeros(len(surf))
        d[ok] = depth[i, v[ok].astype(int), u[ok].astype(int)]
        seen |= ok & (d > 0) & (np.abs(d - z) <= 0.03 * z)
    return float(seen.mean())


def test_auto_plan_covers_at_least_what_the_default_plan_covers(room_state):
    """The planner alone (no generation between steps, so the memories do not grow): its four choices
    see at least as much of the bundled room's true surface as the paper's plan, all in free space."""
    from worldstereo.data.samples import load_sample
    from worldstereo.eval import SyntheticGroundTruth

    truth = SyntheticGroundTruth.from_meta(load_sample("room").meta)
    surf = truth.scene.sample_surface(1500, seed=0).points
    surf = surf @ truth.ours_from_scene[:3, :3].T + truth.ours_from_scene[:3, 3]
    ws = WorldStereo.from_pretrained("warp", max_side=48)
    planner = AutoPlanner(room_state, 5, PlanConfig(budget=4, min_gain=0.0))
    while planner.next() is not None:
        pass
    assert len(planner.chosen) == 4
    start = room_state.observers[0]
    auto = Cameras.concat([start] + [t.cameras for t in planner.chosen])
    default = Cameras.concat([start] + [t.cameras for t in ws.plan(room_state, None, 5)])
    assert truth.in_free_space(auto).all()
    assert _coverage(truth, surf, auto) >= _coverage(truth, surf, default)
    # later choices do not re-film what earlier ones looked at
    assert len({t.name.split("-", 1)[1] for t in planner.chosen}) == 4


def test_parallax_weight_prefers_paths_that_triangulate():
    """A pan about the camera centre has no parallax (its views give multi-view stereo nothing): its gain
    keeps only ``parallax_floor``; a sideways move of 0.2 x depth subtends 2 atan(0.1) = 11.4 deg: full gain."""
    from worldstereo.camera import presets
    from worldstereo.pipelines.planner import parallax_angle, parallax_weight

    K = intrinsics_from_fov(60.0, 64, 48)
    pan = presets.pan(90.0, K=K, width=64, height=48, n_frames=9)
    slide = presets.truck(0.4, K=K, width=64, height=48, n_frames=9)
    cfg = PlanConfig()
    assert parallax_angle(pan, 2.0) == pytest.approx(0.0, abs=1e-9)
    assert parallax_weight(parallax_angle(pan, 2.0), cfg) == pytest.approx(cfg.parallax_floor)
    assert parallax_angle(slide, 2.0) == pytest.approx(2 * np.degrees(np.arctan(0.1)), rel=1e-6)
    assert parallax_weight(parallax_angle(slide, 2.0), cfg) == 1.0
    half = parallax_weight(0.5 * cfg.parallax_deg, cfg)
    assert half == pytest.approx(cfg.parallax_floor + 0.5 * (1 - cfg.parallax_floor))
    assert parallax_weight(0.0, PlanConfig(parallax_deg=0.0)) == 1.0  # off


def test_soft_points_do_not_carve_free_space(room_state):
    """Generated frames merge as soft points (the generator's guesses); only firm points carve known free
    space (soft ones still mark voxels occupied): a cache of soft points only leaves just the seed ball."""
    import copy

    state = copy.deepcopy(room_state)
    before = known_space(state)
    state.cache.soft_views = set(np.unique(state.cache.points.view_ids).tolist())
    assert state.cache.soft.all()
    after = known_space(state)
    assert after.free.sum() == (after.seeded & ~after.occupied).sum() < before.free.sum()
    assert after.occupied.sum() == before.occupied.sum()


def _outdoor_state(height: float = 1.5):
    """An outdoor view: ground ``height`` below the camera (y down), a backdrop 50 ahead filling the upper half."""
    from worldstereo.pipelines.scene_state import SceneState

    w, h = 64, 48
    K = intrinsics_from_fov(70.0, w, h)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    ray_y = (ii - K[1, 2]) / K[1, 1]  # y of the ray with z = 1
    ground = np.where(ray_y > 1e-6, height / np.maximum(ray_y, 1e-6), np.inf)
    depth = np.minimum(ground, 50.0).astype(np.float32)
    return SceneState.from_image(np.full((h, w, 3), 0.5, np.float32), depth, K), depth


def test_scale_is_capped_by_the_nearest_plane_the_input_sees():
    """The median depth of the outdoor view is the backdrop's; the planner's scale is ``plane_scale`` x
    1.5 (the ground's distance), so clearances and moves are sized by the room the camera has above it."""
    height = 1.5
    state, depth = _outdoor_state(height)
    assert state.median_depth > 10.0
    ground_d = state.free_space.planes[:, 3].min()
    assert ground_d == pytest.approx(height, rel=0.02)
    assert scale(state, PlanConfig(plane_scale=4.0)) == pytest.approx(4.0 * ground_d)
    d = depth[depth > 0]
    uncapped = scale(state, PlanConfig(plane_scale=0.0))
    assert uncapped == pytest.approx(min(state.median_depth, 2 * np.percentile(d, 25))) and uncapped > 1.5 * scale(state)


def test_open_sky_and_ground_plane_of_an_outdoor_view(room_state):
    """Outdoors the input's rays above the horizon pass through free space out of the grid: open sky from
    about 0 deg up; the ground is the plane 1.5 below. The bundled room (walls, floor) has no sky."""
    from worldstereo.pipelines.planner import ground_plane, open_sky

    state, _ = _outdoor_state(1.5)
    cfg = PlanConfig()
    D = scale(state, cfg)
    sky = open_sky(known_space(state, cfg), state, cfg, D)
    assert sky is not None and np.allclose(sky[0], [0.0, -1.0, 0.0], atol=1e-3)
    assert -2.0 < np.degrees(np.arcsin(sky[1])) < 5.0
    assert np.allclose(ground_plane(state), [0.0, -1.0, 0.0, 1.5], atol=1e-3)
    assert open_sky(known_space(room_state, cfg), room_state, cfg, scale(room_state)) is None


def test_cast_expects_sky_above_and_the_ground_below():
    """An unknown grid: with a sky from 10 deg up, a view looking straight up uncovers nothing (clear,
    supported); looking down at 45 deg from 1 above the ground plane, the expected new surface is on it."""
    K = intrinsics_from_fov(40.0, 16, 12)
    grid = VoxelGrid.bounding(np.zeros((1, 3)), np.zeros((1, 3)), voxel=0.1, pad=4.0, reach=4.0)
    sky = (np.array([0.0, -1.0, 0.0]), np.sin(np.radians(10.0)))
    upward = Cameras(K, look_at(np.zeros(3), np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])), 16, 12)
    seen = grid.cast(upward, rays=(6, 8), max_range=3.0, expected_depth=1.0, sky=sky)
    assert seen["clear"][0].all() and seen["support"][0] == 1.0 and seen["new"][0] == 0.0 and len(seen["voxels"]) == 0
    level = Cameras(K, look_at(np.zeros(3), np.array([0.0, 0.0, 1.0])), 16, 12)
    # a level view of 30.6 deg vertical field: the top row of rays (12-13 deg up) is sky, the other five are not
    assert grid.cast(level, rays=(6, 8), max_range=3.0, expected_depth=1.0, sky=sky)["new"][0] == pytest.approx(5 / 6)
    down = Cameras(K, look_at(np.zeros(3), np.array([0.0, 1.0, 1.0])), 16, 12)
    ground = (np.array([0.0, -1.0, 0.0]), 1.0)  # -y + 1 > 0 above: the plane y = 1
    hit = grid.centers(grid.cast(down, rays=(6, 8), max_range=3.0, expected_depth=0.5, ground=ground)["voxels"])
    assert len(hit) and np.abs(hit[:, 1] - 1.0).max() <= grid.voxel
    hit = grid.centers(grid.cast(down, rays=(6, 8), max_range=3.0, expected_depth=0.5)["voxels"])
    assert np.abs(hit[:, 1] - 1.0).max() > 0.3  # without the plane: at the expected depth 0.5


def test_fill_holes_closes_pinholes_with_the_nearest_depth():
    from worldstereo.pipelines.planner import fill_holes

    d = np.full((1, 9, 9), 4.0)
    d[0, 4, 4] = 2.0
    d[0, 4, 5] = 0.0  # a pinhole next to a nearer point: takes the nearer depth
    d[0, 0:2, 0:2] = 0.0
    out = fill_holes(d, passes=1)
    assert out[0, 4, 5] == 2.0 and out[0, 0, 1] == 4.0 and out[0, 0, 0] == 0.0  # a 2 x 2 gap's corner: one pass short
    assert (fill_holes(d, passes=2) > 0).all()
    empty = np.zeros((1, 9, 9))
    assert (fill_holes(empty) == 0).all()  # nothing rendered: nothing to carve
