"""Security issue: names from files are identifiers, deletions stay inside the run, run.json is
validated before use, and numeric options are checked before anything is written."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from worldstereo.cli import app
from worldstereo.pipelines.rundir import RunDirectory, RunError
from worldstereo.runlayout import read_record
from worldstereo.safepath import UnsafeNameError, UnsafePathError, check_name, inside, remove_tree

FAST = ["--generator", "warp", "--max-side", "48", "--frames", "3", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(res, message):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert "Traceback" not in res.output


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("name", ["orbit", "left-90", "run_2", "a.b", "X" * 64, "9"])
def test_safe_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../victim", "../../victim", "/abs/path", "a/b", "a\\b", ".hidden",
                                  "x" * 65, "con", "NUL.txt", "lpt1", "ends.", "a b", "<img src=x>", "é", "a\x00b",
                                  None, 3, ["orbit"]])
def test_unsafe_names_are_refused_naming_file_and_field(name):
    with pytest.raises(UnsafeNameError, match=r"^t\.json: name: "):
        check_name(name, "name", "t.json")


def test_remove_tree_only_inside_root(tmp_path):
    root, outside = tmp_path / "run", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    with pytest.raises(UnsafePathError):
        remove_tree(root / ".." / "outside", root)
    with pytest.raises(UnsafePathError):
        remove_tree(root, root)  # the root itself is not "inside"
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        remove_tree(root / "link", root)
    with pytest.raises(UnsafePathError):  # a path under a link that leaves the root
        remove_tree(root / "link" / "sub", root)
    assert (outside / "keep.txt").read_text() == "keep"
    remove_tree(root / "a", root)
    assert not (root / "a").exists()
    remove_tree(root / "missing", root)  # missing is fine
    assert inside(root / "x" / "y", root) == root / "x" / "y"


def test_run_start_never_deletes_through_a_link(tmp_path):
    run = RunDirectory.open(tmp_path / "run", {}, {})
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.txt").write_text("keep")
    (run.root / "trajectories").symlink_to(victim, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        run.start("orbit")
    with pytest.raises(UnsafeNameError):
        run.start("../victim")
    assert (victim / "important.txt").read_text() == "keep" and tree(victim) == ["important.txt"]


def test_issue_reproduction_hostile_trajectory_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("trajectory", "make", "orbit", "--depth", 2.0, "--frames", 4, "-o", "t.json", "-q").exit_code == 0
    t = json.loads((tmp_path / "t.json").read_text())
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "important.txt").write_text("keep")
    assert invoke("sample", "export", "object", "photo", "-q").exit_code == 0
    for i, bad in enumerate(["../../victim", str(tmp_path / "victim"), "..", "<img src=x onerror=alert(1)>"]):
        t["name"] = bad
        (tmp_path / f"evil{i}.json").write_text(json.dumps(t))
        res = invoke("generate", "photo/image.png", "--depth", "photo/depth.png", "--fov", 60, "-t", "orbit",
                     "-t", f"evil{i}.json", "--generator", "warp", "--max-side", 64, "--frames", 4, "-o", "run")
        one_line_error(res, f"evil{i}.json: name: ")
        assert not (tmp_path / "run").exists()
    assert tree(tmp_path / "victim") == ["important.txt"]
    assert (tmp_path / "victim" / "important.txt").read_text() == "keep"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sec") / "run"
    res = invoke("generate", "object", "-t", "orbit", "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("record", ["[]", "null", '"text"', "{", "[" * 5000 + "]" * 5000, "NaN",
                                    "TRAJ_NULL", "TRAJ_LIST", "FILES_OUTSIDE", "BAD_NAME"])
def test_resume_on_a_wrong_shaped_record_deletes_nothing(tmp_path, finished_run, record):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    good = json.loads((run / "run.json").read_text())
    if record == "TRAJ_NULL":
        good["trajectories"]["orbit"] = None
    elif record == "TRAJ_LIST":
        good["trajectories"] = []
    elif record == "FILES_OUTSIDE":
        good["trajectories"]["orbit"]["files"] = {"../../etc/passwd": "0" * 64}
    elif record == "BAD_NAME":
        good["trajectories"]["../x"] = good["trajectories"].pop("orbit")
    text = json.dumps(good) if record.isupper() and "_" in record else record
    (run / "run.json").write_text(text)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    res = invoke("generate", "object", "-t", "orbit", "-o", run, "--resume", *FAST)
    one_line_error(res, "run.json")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    with pytest.raises(RunError):
        read_record(run)


def test_a_good_record_validates(finished_run):
    rec = read_record(finished_run)
    assert rec.trajectories["orbit"].status == "done"


@pytest.mark.parametrize("args, message", [
    (["--max-side", 0], "--max-side: 0 is outside"), (["--max-side", 1], "--max-side: 1 is outside"),
    (["--max-side", 2], "--max-side: 2 is outside"), (["--max-side", 4], "--max-side: 4 is outside"),
    (["--max-side", -3], "--max-side: -3 is outside"), (["--max-side", 100000], "--max-side: 100000 is outside"),
    (["--frames", 0], "--frames: 0 is outside"), (["--frames", -3], "--frames: -3 is outside"),
    (["--frames", 1], "--frames: 1 is outside"), (["--frames", 100000], "--frames: 100000 is outside"),
    (["--steps", 0], "--steps: 0 is outside"), (["--seed", -1], "--seed: -1 is outside"),
])
def test_numeric_options_checked_before_anything_is_written(tmp_path, args, message):
    base = {"--max-side": 48, "--frames": 3}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    res = invoke("generate", "object", "-t", "orbit", "-o", tmp_path / "run", "--generator", "warp", *flat)
    one_line_error(res, message)
    assert not (tmp_path / "run").exists()


def test_elongated_input_at_small_max_side_is_refused(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "wide.png", np.full((20, 400, 3), 128, np.uint8))
    np.save(tmp_path / "depth.npy", np.ones((20, 400), np.float32))
    res = invoke("generate", tmp_path / "wide.png", "--depth", tmp_path / "depth.npy", "--fov", 60, "-t", "orbit",
                 "-o", tmp_path / "run", "--generator", "warp", "--max-side", 64, "--frames", 3)
    one_line_error(res, "under 16 px")
    assert not (tmp_path / "run").exists()


def test_long_trajectory_file_is_refused_or_resampled_never_silently_run(tmp_path, caplog):
    from worldstereo.pipelines import limits

    assert invoke("trajectory", "make", "orbit", "--depth", 2.0, "--frames", limits.MAX_FRAMES + 20,
                  "-o", tmp_path / "long.json", "-q").exit_code == 0
    res = invoke("generate", "object", "-t", tmp_path / "long.json", "-o", tmp_path / "run", "--generator", "warp",
                 "--max-side", 48)
    one_line_error(res, f"has {limits.MAX_FRAMES + 20} frames")
    assert "--frames" in res.output and not (tmp_path / "run").exists()
    res = invoke("generate", "object", "-t", tmp_path / "long.json", "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["trajectories"]["orbit"]["frames"] == 3
    assert any("resampled from" in r.getMessage() for r in caplog.records)


def test_max_frames_follows_memory(monkeypatch):
    from worldstereo.pipelines import limits

    monkeypatch.setattr(limits, "machine_memory", lambda: 8 << 30)
    small = limits.max_frames(480, 832)
    assert 2 <= small <= limits.MAX_FRAMES
    assert limits.max_frames(4096, 4096) < small
    assert limits.max_frames(4096, 4096, generator_frames=9) == 9


def test_train_export_refuses_a_folder_it_did_not_write(tmp_path):
    from worldstereo.training.config import get_preset
    from worldstereo.training.pipeline import train_all

    target = tmp_path / "Documents"
    target.mkdir()
    (target / "thesis.tex").write_text("keep")
    with pytest.raises(ValueError, match="is not a model folder"):
        train_all(get_preset("tiny-cpu"), tmp_path / "train", stages=("base",), export=target)
    assert (target / "thesis.tex").read_text() == "keep" and not (tmp_path / "train").exists()


def test_two_runs_into_one_folder_are_told_apart_by_the_lock(tmp_path):
    from worldstereo.pipelines.rundir import run_lock

    out = tmp_path / "run"
    with run_lock(out):  # another process is writing this run
        res = invoke("generate", "object", "-t", "orbit", "-o", out, *FAST)
        one_line_error(res, "another worldstereo process is writing this run")
        assert tree(out) == [".lock"]
    res = invoke("generate", "object", "-t", "orbit", "-o", out, *FAST)  # released: the folder is usable
    assert res.exit_code == 0, res.output


def test_a_failed_start_leaves_no_folder_behind(tmp_path):
    from worldstereo.pipelines.rundir import run_lock

    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError):
        with run_lock(out):
            raise RuntimeError("validation failed before anything was written")
    assert not out.exists()
