import json

from typer.testing import CliRunner

from worldstereo.cli import app


def test_demo_runs_the_pipeline_and_writes_the_viewer(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "run.json").read_text())
    assert rec["order"] == ["orbit", "up", "right", "left"]
    assert all(rec["trajectories"][n]["status"] == "done" for n in rec["order"])
    assert (out / "viewer.html").stat().st_size > 100_000
    assert "look at:" in res.output
    # a second call resumes: nothing is regenerated
    again = CliRunner().invoke(app, ["demo", "-o", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "run.json").read_text())["resumed"] == 1
