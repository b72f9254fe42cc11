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
    assert reopened.is_done("orbit") and reopened.record.trajectories["orbit"].info["psnr"] == 20.0
    f.write_text('{"tampered": 1}')
    assert not reopened.is_done("orbit")
    f.unlink()
    assert not reopened.is_done("orbit")


def test_restart_clears_a_partial_trajectory(tmp_path):
    run = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {})
    d = run.start("up")
    (d / "half.png").write_bytes(b"\x89PNG half")
    d = run.start("up")
    assert list(d.iterdir()) == [] and run.record.trajectories["up"].status == "running"


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


def test_run_record_round_trips_and_keeps_unknown_keys(tmp_path):
    from worldstereo.runlayout import RunRecord, read_record

    run = RunDirectory.open(tmp_path / "run", _inputs(tmp_path), {"steps": 4})
    d = run.start("orbit")
    (d / "cameras.json").write_text("{}")
    run.finish("orbit", [d / "cameras.json"], {"psnr": 20.0, "frames": 9})
    on_disk = json.loads((tmp_path / "run" / "run.json").read_text())
    on_disk["future_key"] = {"x": 1}
    assert RunRecord.from_dict(on_disk).to_dict() == on_disk
    rec = read_record(tmp_path / "run")
    assert set(rec.trajectories["orbit"].files) == {"trajectories/orbit/cameras.json"} and rec.order == ["orbit"]
    assert rec.trajectories["orbit"].info == {"psnr": 20.0, "frames": 9}
    with pytest.raises(RunError, match="trajectories"):
        RunRecord.from_dict({**on_disk, "trajectories": []})


def test_layout_names_the_files_of_design_6(tmp_path):
    from worldstereo.runlayout import RunLayout

    lay = RunLayout(tmp_path)
    assert lay.record == tmp_path / "run.json" and lay.bank == tmp_path / "memory" / "bank.json"
    t = lay.trajectory("orbit")
    assert t.video == tmp_path / "trajectories" / "orbit" / "video.mp4" and t.depth.name == "depth.npz"
