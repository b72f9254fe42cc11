"""`--json` on every command with a result: stdout is one JSON object and nothing else; -q/-v on every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from worldstereo.cli import app
from worldstereo.progress import ProgressDisplay

FAST = ["--generator", "warp", "--max-side", "64", "--frames", "5"]


def run_json(*args) -> dict:
    """Invoke with --json; stdout must parse as one JSON object (progress and messages stay off it)."""
    res = CliRunner().invoke(app, [str(a) for a in args] + ["--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_json") / "run"
    summary = run_json("generate", "object", "-t", "orbit", "-o", out, *FAST)
    assert summary["run"] == str(out)
    assert [(t["trajectory"], t["status"], t["frames"]) for t in summary["trajectories"]] == [("orbit", "done", 5)]
    return out


@pytest.fixture(scope="module")
def scene_dir(run_dir) -> Path:
    scene = run_dir / "reconstruction"
    summary = run_json("reconstruct", run_dir, "--method", "mvs", "--resolution", 64, "--texture-resolution", 64,
                       "-o", scene)
    assert summary["scene"] == str(scene) and summary["method"] == "mvs"
    assert summary["vertices"] > 0 and summary["points"] > 0
    assert set(summary["quality_metrics"]) >= {"completeness", "geometric_consistency"}
    return scene


def test_trajectory_make_show_convert_json(tmp_path):
    made = run_json("trajectory", "make", "orbit", "--frames", 9, "-o", tmp_path / "orbit.json")
    assert made["trajectories"] == [{"file": str(tmp_path / "orbit.json"), "name": "orbit", "kind": "orbit",
                                     "frames": 9, "width": 832, "height": 480, "fps": 16.0}]
    plan = run_json("trajectory", "make", "plan", "--frames", 5, "-o", tmp_path / "plan")
    assert [t["name"] for t in plan["trajectories"]] == ["orbit", "up", "right", "left"]
    shown = run_json("trajectory", "show", tmp_path / "orbit.json", tmp_path / "plan" / "up.json", "-o", tmp_path / "p.png")
    assert shown["plot"] == str(tmp_path / "p.png") and (tmp_path / "p.png").is_file()
    assert [t["rough_steps"] for t in shown["trajectories"]] == [[], []]
    conv = run_json("trajectory", "convert", tmp_path / "orbit.json", tmp_path / "ns.json", "--to", "nerfstudio")
    assert (conv["from"], conv["to"], conv["frames"], conv["file"]) == ("worldstereo", "nerfstudio", 9, str(tmp_path / "ns.json"))


def test_sample_list_and_export_json(tmp_path):
    names = [s["name"] for s in run_json("sample", "list")["samples"]]
    assert {"room", "object", "panorama"} <= set(names)
    exported = run_json("sample", "export", "object", "-o", tmp_path / "object")
    assert sorted(Path(p).name for p in exported["files"]) == ["K.json", "depth.png", "image.png", "meta.json"]
    res = CliRunner().invoke(app, ["sample", "export", "object", str(tmp_path / "a"), "-o", str(tmp_path / "b")])
    assert res.exit_code == 2 and "once" in res.output


def test_reconstruct_export_and_report_json(run_dir, scene_dir, tmp_path):
    exported = run_json("export", scene_dir, "--mesh", "obj", "--points", "xyz", "--texture-resolution", 32,
                        "-o", tmp_path / "e")
    assert exported["files"] == {"mesh": str(tmp_path / "e" / "mesh.obj"), "points": str(tmp_path / "e" / "points.xyz")}
    assert all(Path(p).is_file() for p in exported["files"].values())
    rep = run_json("report", run_dir)
    assert Path(rep["markdown"]).is_file() and Path(rep["html"]).is_file() and isinstance(rep["warnings"], list)


def test_doctor_json():
    assert {"checks", "features"} <= set(run_json("doctor"))


def test_demo_json(tmp_path):
    summary = run_json("demo", "-o", tmp_path / "demo", "--generator", "warp", "--max-side", 48, "--frames", 5)
    assert [t["trajectory"] for t in summary["trajectories"]] == ["orbit", "up", "right", "left"]
    assert summary["viewer"] == str(tmp_path / "demo" / "viewer.html")
    assert summary["reconstruction"] is None or "folder" in summary["reconstruction"]


def test_quiet_and_verbose_are_accepted_before_and_after_the_subcommand(tmp_path):
    for args in (["-q", "trajectory", "make", "up", "--frames", 5, "-o", tmp_path / "a.json"],
                 ["trajectory", "make", "up", "--frames", 5, "-o", tmp_path / "b.json", "-q"]):
        res = CliRunner().invoke(app, [str(a) for a in args])
        assert res.exit_code == 0 and res.output == "", res.output
    res = CliRunner().invoke(app, ["trajectory", "make", "up", "--frames", 5, "-o", str(tmp_path / "c.json")])
    assert res.stdout == "" and "wrote" in res.stderr  # messages never on stdout
    for cmd in (["generate"], ["demo"], ["reconstruct"], ["export"], ["sample", "list"], ["sample", "export"],
                ["trajectory", "make"], ["trajectory", "show"], ["trajectory", "convert"], ["view"], ["report"], ["doctor"]):
        text = CliRunner().invoke(app, cmd + ["--help"]).output
        assert "--quiet" in text and "--verbose" in text, cmd
        assert ("--json" in text) == (cmd != ["view"]), cmd


def test_errors_stay_off_stdout_with_json(tmp_path):
    res = CliRunner().invoke(app, ["trajectory", "show", str(tmp_path / "nope.json"), "-o", str(tmp_path / "p.png"), "--json"])
    assert res.exit_code == 2 and res.stdout == "" and "no such file" in res.stderr


def test_progress_display_draws_only_when_enabled():
    for enabled in (True, False):
        console = Console(record=True, force_terminal=True, width=100)
        with ProgressDisplay(enabled=enabled, console=console) as display:
            bar = display.task("frames", total=3)
            for _ in display.track(range(2), "items"):
                bar.update(advance=1)
            display.step_callback()("fusion", 2, 4)
            scene = display.scene_callback()
            scene("trajectory", "orbit", 0, 2, "")
            scene("step", "orbit", 1, 5, "frame")
            scene("trajectory", "", 2, 2, "")
        text = console.export_text()
        assert ("frames" in text and "fusion" in text and "trajectories" in text) == enabled, text
        assert enabled or text == ""
