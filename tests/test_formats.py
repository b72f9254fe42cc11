import json

import numpy as np
import pytest

from worldstereo.camera import CameraTrajectory, TrajectoryFileError, load_trajectory, save_trajectory
from worldstereo.camera.formats import FORMATS, read_trajectory, write_trajectory
from conftest import random_cameras


def _traj(rng, rebase=False, per_frame_K=True):
    cams = random_cameras(rng, n=6, per_frame_K=per_frame_K)
    if rebase:  # official round trips are defined for trajectories that start at the input camera
        cams = cams.transformed(cams.world_from_cam[0])
    return CameraTrajectory(cams, name="t", kind="custom", fps=12.0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("per_frame_K", [True, False])
def test_round_trip_to_1e_9(tmp_path, rng, fmt, per_frame_K):
    traj = _traj(rng, rebase=(fmt == "official"), per_frame_K=per_frame_K)
    out = tmp_path / ("model" if fmt == "colmap" else "traj.txt" if fmt == "re10k" else "traj.json")
    write_trajectory(traj, out, fmt, depth=2.5)
    back = read_trajectory(out, fmt, width=traj.width, height=traj.height, fps=traj.fps)
    assert back.cameras.allclose(traj.cameras, atol=1e-9), fmt
    assert back.fps == pytest.approx(traj.fps)


def test_official_frame_is_rebased(tmp_path, rng):
    traj = _traj(rng, rebase=True)
    write_trajectory(traj, tmp_path / "camera.json", "official", depth=3.0)
    data = json.loads((tmp_path / "camera.json").read_text())
    assert np.allclose(data["extrinsic"][0], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3.0], [0, 0, 0, 1]])
    # an official file whose frame 0 is [I|(0,0,d)] imports with frame 0 = identity, relative motion kept
    back = read_trajectory(tmp_path / "camera.json", "official")
    assert np.allclose(back.cameras.cam_from_world[0], np.eye(4))


def test_nerfstudio_hand_written_projects_known_point(tmp_path):
    """A camera at (0, 0, 5) (OpenGL: looking down -z toward the origin) sees the world origin at the principal point,
    and the point (1, 0, 0) to the right by fx / 5 pixels."""
    data = {
        "fl_x": 100.0, "fl_y": 100.0, "cx": 40.0, "cy": 30.0, "w": 80, "h": 60,
        "frames": [{"file_path": "a.png", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]}],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    traj = read_trajectory(tmp_path / "transforms.json", "nerfstudio")
    uv, z = traj.cameras.project(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert np.allclose(uv[0, 0], [40, 30]) and np.isclose(z[0, 0], 5)
    assert np.allclose(uv[0, 1], [60, 30])  # +x world is right in the image
    assert np.allclose(uv[0, 2], [40, 10])  # +y world (OpenGL up) is up in the image


def test_colmap_hand_written_projects_known_point(tmp_path):
    """COLMAP: camera rotated 90 deg about y (qw=cos45, qy=sin45), t = (0, 0, 4); point X=(-4, 0.4, 0) -> camera
    coords R X + t = (0, 0.4, 8), pixel (cx, cy + f * 0.4 / 8)."""
    (tmp_path / "cameras.txt").write_text("# comment\n1 PINHOLE 100 80 200 200 50 40\n")
    s = np.sqrt(0.5)
    (tmp_path / "images.txt").write_text(f"# header\n1 {s} 0 {s} 0 0 0 4 1 img.png\n\n")
    traj = read_trajectory(tmp_path, "colmap")
    uv, z = traj.cameras.project(np.array([[-4.0, 0.4, 0.0]]))
    assert np.isclose(z[0, 0], 8.0) and np.allclose(uv[0, 0], [50, 40 + 200 * 0.4 / 8])


def test_colmap_rejects_distortion(tmp_path):
    (tmp_path / "cameras.txt").write_text("1 SIMPLE_RADIAL 100 80 200 50 40 0.1\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(TrajectoryFileError, match=r"cameras.txt:1: lens distortion"):
        read_trajectory(tmp_path, "colmap")


def test_re10k_needs_size_and_checks_lines(tmp_path):
    p = tmp_path / "cams.txt"
    p.write_text("https://example.invalid/v\n0 0.5 0.8 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1\n")
    with pytest.raises(TrajectoryFileError, match="pass width and height"):
        read_trajectory(p, "re10k")
    with pytest.raises(TrajectoryFileError, match=r"cams.txt:2: expected 19 numbers"):
        read_trajectory(p, "re10k", width=64, height=48)


def test_unknown_format():
    with pytest.raises(ValueError, match="not one of"):
        read_trajectory("x", "blender")


# -- our own schema-v1 file: errors point at the bad field with its JSON path ------------------------------
def _write(tmp_path, rng, edit):
    traj = _traj(rng)
    path = tmp_path / "t.json"
    save_trajectory(traj, path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["frames"][3]["K"][0].__setitem__(0, -10), r"frames\[3\]\.K: focal length must be > 0"),
        (lambda d: d["frames"][2]["cam_from_world"][0].__setitem__(0, 3.0), r"frames\[2\]\.cam_from_world: rotation"),
        (lambda d: d["frames"][1].pop("K"), r"frames\[1\]: 'K' is a required property"),
        (lambda d: d["frames"][4]["K"].pop(), r"frames\[4\]\.K: .* too short"),
        (lambda d: d.__setitem__("version", 2), r"version: 1 was expected"),
        (lambda d: d.__setitem__("width", "wide"), r"width: 'wide' is not of type 'integer'"),
        (lambda d: d.__setitem__("frames", []), r"frames: \[\] should be non-empty"),
        (lambda d: d.__setitem__("extra", 1), r"Additional properties"),
    ],
)
def test_trajectory_file_errors_name_json_path(tmp_path, rng, edit, message):
    path = _write(tmp_path, rng, edit)
    with pytest.raises(TrajectoryFileError, match=message) as exc:
        load_trajectory(path)
    assert str(exc.value).startswith(str(path))
    assert "\n" not in str(exc.value)


def test_trajectory_file_not_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{\n  'frames': ")
    with pytest.raises(TrajectoryFileError, match=r"not valid JSON at line 2"):
        load_trajectory(p)


def test_save_is_atomic_and_leaves_no_temp(tmp_path, rng):
    traj = _traj(rng)
    save_trajectory(traj, tmp_path / "a.json")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert load_trajectory(tmp_path / "a.json").cameras.allclose(traj.cameras, atol=0)
