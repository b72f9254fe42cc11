import json
import os

import pytest

from worldstereo.pipelines.rundir import RunDirectory, RunError


def _inputs(tmp_path, content=b"image-bytes"):
    img = tmp_path / "in.png"
    img.write_bytes(content)
    return {"image": img, "kind": "image"}


def test_new_run_records_inputs_settings_versions(tmp_path):
    run = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {"steps": 4})
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["inputs"]["image"]["sha256"] and rec["settings"] == {"steps": 4}
    assert "torch" in rec["versions"] and rec["schema"] == 1
    assert run.trajectory_dir("orbit") == tmp_path / "run" / "trajectories" / "orbit"


def test_done_requires_intact_files(tmp_path):
    run = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {})
    d = run.start("orbit")
    f = d / "cameras.json"
    f.write_text("{}")
    assert not run.is_done("orbit")
    run.finish("orbit", [f], {"psnr": 20.0})
    assert run.is_done("orbit")
    reopened = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {}, resume=True)
    assert reopened.is_done("orbit") and reopened.record["trajectories"]["orbit"]["psnr"] == 20.0
    f.write_text('{"tampered": 1}')
    assert not reopened.is_done("orbit")
    f.unlink()
    assert not reopened.is_done("orbit")


def test_restart_clears_a_partial_trajectory(tmp_path):
    run = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {})
    d = run.start("up")
    (d / "half.png").write_bytes(b"\x89PNG half")
    d = run.start("up")
    assert list(d.iterdir()) == [] and run.record["trajectories"]["up"]["status"] == "running"


def test_existing_run_needs_resume_and_same_inputs(tmp_path):
    RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {"steps": 4})
    with pytest.raises(RunError, match="pass --resume"):
        RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {"steps": 4})
    with pytest.raises(RunError, match="input 'image' differs"):
        RunDirectory.open(tmp_path / "run", _inputs(tmp_path, b"other image"), {"steps": 4}, resume=True)
    with pytest.raises(RunError, match="setting 'steps' differs"):
        RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {"steps": 8}, resume=True)


def test_refuses_foreign_or_unwritable_folder(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not an empty folder"):
        RunDirectory.open(tmp_path / "busy", _inputs(tmp_path), {})
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permission bits; use a path under a file instead
            target = tmp_path / "busy" / "notes.txt" / "run"
        else:
            target = ro / "run"
        with pytest.raises(RunError, match="not writable"):
            RunDirectory.open(target, _inputs(tmp_path), {})
    finally:
        os.chmod(ro, 0o700)
