"""The run report: every section present, figures written, numbers taken from the run, partial runs explained."""

from __future__ import annotations

import json
import re
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from fake_run import FRAMES, H, W, session_runs
from worldstereo.camera import load_trajectory, save_trajectory
from worldstereo.cli import app
from worldstereo.viewer import load_run, write_report
from worldstereo.viewer.markup import to_html, to_markdown
from worldstereo.viewer.report import collect_warnings

SECTIONS = ["Inputs", "Plan", "Frames", "Retrieved references", "3D cache growth", "Timings",
            "Reconstruction quality", "Warnings", "Missing"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return session_runs(tmp_path_factory)


def _table(md: str, header: str) -> list[list[str]]:
    """Rows of the Markdown table whose header line starts with ``| header |``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_report_of_a_complete_run(runs):
    run = runs[0]
    md = write_report(run).read_text()
    record = json.loads((run / "run.json").read_text())
    assert re.findall(r"^## (.+)$", md, re.M) == SECTIONS
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    names = ["input.png", "report/plan.png"] + [f"report/frames_{n}.png" for n in record["order"]] \
        + [f"report/references_{n}.png" for n in record["order"]] + ["report/cache_growth.png"]
    assert images == names
    for rel in images:
        assert iio.imread(run / rel).ndim == 3
    # 8 frames in 2 rows of 4, 4 px white gaps.
    assert iio.imread(run / "report/frames_up.png").shape == (2 * H + 4, 4 * W + 12, 3)
    steps = _table(md, "after")
    assert [r[0] for r in steps] == [s["after"] for s in record["cache_steps"]]
    assert [int(r[1]) for r in steps] == [s["points"] for s in record["cache_steps"]]
    timings = _table(md, "trajectory | status | seconds")
    total = sum(e["seconds"] for e in record["trajectories"].values())
    assert timings[-1][0] == "total" and float(timings[-1][2]) == pytest.approx(total)
    refs = json.loads((run / "trajectories/up/references.json").read_text())
    up_refs = _table(md.split("report/references_up.png")[1], "target frame")
    assert [(int(r[0]), int(r[1])) for r in up_refs] == list(zip(refs["targets"], refs["references"]))
    metrics = dict(r for r in _table(md, "metric"))
    assert metrics["geometric_consistency"] == "0.84"
    warnings = md.split("## Warnings")[1].split("## Missing")[0]
    assert "cache alignment after 'up': 2 frame(s) rejected, inlier ratio 0.41" in warnings
    assert "right: camera step 7" in warnings
    assert "Nothing: the run is complete." in md.split("## Missing")[1]

    page = (run / "report.html").read_text()
    assert page.count("<table>") == len(re.findall(r"^\|(?:---\|)+$", md, re.M)) and page.count("<img ") == len(images)
    assert all(f'src="{rel}"' in page for rel in images)


def test_report_of_a_partial_run_says_what_is_missing(runs):
    md = write_report(runs[1]).read_text()
    assert re.findall(r"^## (.+)$", md, re.M) == SECTIONS
    assert "- left: status 'pending', not finished" in md and "- right: status 'running', not finished" in md
    assert "- trajectories/left/: not started (pending)" in md
    assert "- trajectories/right/video.mp4: not written" in md
    assert "No reconstruction metrics" in md
    # Bank images are missing, so references are a table without the picture of pairs.
    assert "report/references_up.png" not in md and "| 4 | 1 | orbit |" in md


def test_rough_camera_steps_are_reported(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    path = run / "trajectories/orbit/cameras.json"
    traj = load_trajectory(path)
    jump = traj.cameras.cam_from_world.copy()
    jump[FRAMES // 2:, :3, 3] += np.array([2.0, 0.0, 0.0])
    save_trajectory(traj.with_cameras(traj.cameras.with_cam_from_world(jump)), path)
    warnings = collect_warnings(load_run(run))
    assert f"orbit: camera steps [{FRAMES // 2 - 1}] are over 3x the median step (not smooth)" in warnings
    assert not any(w.startswith("up: camera steps") for w in warnings)


def test_markup_escapes_table_cells_and_html():
    blocks = [("h2", "a <b>"), ("table", ["k", "v"], [["x|y", 0.123456], ["n", None]]), ("list", ["<i>"])]
    md = to_markdown(blocks)
    assert "| x\\|y | 0.1235 |" in md and "| n | — |" in md
    page = to_html(blocks, "t")
    assert "<h2>a &lt;b&gt;</h2>" in page and "<li>&lt;i&gt;</li>" in page and "<td>x|y</td>" in page


def test_report_command(runs, tmp_path):
    result = CliRunner().invoke(app, ["report", str(runs[1])])
    assert result.exit_code == 0, result.output
    assert (runs[1] / "report.html").is_file()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "not a folder" in result.output
