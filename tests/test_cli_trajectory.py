import json

import pytest
from typer.testing import CliRunner

from worldstereo.camera import load_trajectory
from worldstereo.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_subcommands_and_each_has_help():
    res = invoke("--help")
    assert res.exit_code == 0
    for cmd in ("trajectory", "demo"):
        assert cmd in res.output
    for sub in (["trajectory", "make"], ["trajectory", "show"], ["trajectory", "convert"], ["demo"]):
        r = invoke(*sub, "--help")
        assert r.exit_code == 0 and "Usage" in r.output


def test_make_orbit_then_show(tmp_path):
    out = tmp_path / "orbit.json"
    res = invoke("trajectory", "make", "orbit", "--frames", 25, "--depth", 2.0, "-o", out)
    assert res.exit_code == 0, res.output
    traj = load_trajectory(out)
    assert len(traj) == 25 and traj.kind == "orbit" and (traj.width, traj.height) == (832, 480)
    png = tmp_path / "plot.png"
    res = invoke("trajectory", "show", out, "-o", png)
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_make_plan_writes_four_files(tmp_path):
    res = invoke("trajectory", "make", "plan", "--frames", 9, "-o", tmp_path / "plan")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == ["left.json", "orbit.json", "right.json", "up.json"]


def test_convert_chain_preserves_cameras(tmp_path):
    src = tmp_path / "up.json"
    assert invoke("trajectory", "make", "up", "--frames", 7, "-o", src).exit_code == 0
    assert invoke("trajectory", "convert", src, tmp_path / "ns.json", "--to", "nerfstudio").exit_code == 0
    assert invoke("trajectory", "convert", tmp_path / "ns.json", tmp_path / "model", "--from", "nerfstudio", "--to", "colmap").exit_code == 0
    assert invoke("trajectory", "convert", tmp_path / "model", tmp_path / "cams.txt", "--from", "colmap", "--to", "re10k").exit_code == 0
    res = invoke("trajectory", "convert", tmp_path / "cams.txt", tmp_path / "back.json", "--from", "re10k",
                 "--width", 832, "--height", 480)
    assert res.exit_code == 0, res.output
    assert load_trajectory(tmp_path / "back.json").cameras.allclose(load_trajectory(src).cameras, atol=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (["trajectory", "make", "spiral", "-o", "x.json"], "preset 'spiral' is not one of"),
        (["trajectory", "make", "up", "--frames", "1", "-o", "x.json"], "n_frames: must be an integer >= 2"),
        (["trajectory", "make", "orbit", "-o", "missing_dir/x.json"], "does not exist"),
        (["trajectory", "show", "nope.json", "-o", "p.png"], "nope.json: no such file"),
        (["trajectory", "convert", "a", "b", "--from", "blender"], "format 'blender' is not one of"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    res = invoke(*args)
    assert res.exit_code == 2
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert not list(tmp_path.glob("**/*.json"))


def test_invalid_file_field_is_reported(tmp_path):
    src = tmp_path / "t.json"
    assert invoke("trajectory", "make", "left", "--frames", 5, "-o", src).exit_code == 0
    data = json.loads(src.read_text())
    data["frames"][2]["K"][0][0] = 0
    src.write_text(json.dumps(data))
    res = invoke("trajectory", "show", src, "-o", tmp_path / "p.png")
    assert res.exit_code == 2 and "frames[2].K: focal length must be > 0" in res.output
    assert not (tmp_path / "p.png").exists()
