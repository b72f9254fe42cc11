from typer.testing import CliRunner

from worldstereo.camera import load_trajectory
from worldstereo.cli import app


def test_demo_plans_default_trajectories(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "-o", str(out)])
    assert res.exit_code == 0, res.output
    names = [load_trajectory(out / f"{n}.json").name for n in ("orbit", "up", "right", "left")]
    assert names == ["orbit", "up", "right", "left"]
    assert (out / "plan.png").stat().st_size > 10_000
