"""Every subcommand, every class of bad input: exit 2, one line naming what/where/how to fix, no
traceback, and nothing created or deleted anywhere (issue: 135 bad inputs tried as a new user).

One row per bad-input class per subcommand; a new subcommand adds its rows here. ``{x}`` in an
argument is a path inside the shared fixture folder ``W``; the whole of ``W`` is snapshotted before
and after each row and must be unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from worldstereo.cli import app

FAST = ["--generator", "warp", "--max-side", "48", "--frames", "3"]
GEN = ["generate", "{photo}/image.png", "--depth", "{photo}/depth.png", "--fov", "60", "-t", "orbit", "-o", "{new}/run"]

ROWS = [
    # --- generate -------------------------------------------------------------------------------
    ("generate/image-not-an-image", ["generate", "{text_png}", "--depth", "{photo}/depth.png", "-o", "{new}/r", *FAST], "not a readable image"),
    ("generate/image-missing", ["generate", "{new}/nope.png", "--depth", "{photo}/depth.png", "-o", "{new}/r", *FAST], "no such image file"),
    ("generate/depth-png-is-text", [*GEN[:3], "{text_png}", *GEN[4:], *FAST], "not a readable PNG"),
    ("generate/depth-png-empty", [*GEN[:3], "{empty_png}", *GEN[4:], *FAST], "not a readable PNG"),
    ("generate/depth-png-truncated", [*GEN[:3], "{truncated_png}", *GEN[4:], *FAST], "not a readable PNG"),
    ("generate/depth-wrong-size", [*GEN[:3], "{small_depth}", *GEN[4:], *FAST], "give a depth map of the image's size"),
    ("generate/no-depth", ["generate", "{photo}/image.png", "-o", "{new}/r", *FAST], "no depth for this image"),
    ("generate/device-missing", [*GEN, *FAST, "--device", "cuda:7"], "--device cuda:7"),
    ("generate/device-garbage", [*GEN, *FAST, "--device", "toaster"], "not a device name"),
    ("generate/fov-out-of-range", [*GEN[:5], "400", *GEN[6:], *FAST], "--fov 400"),
    ("generate/fps-infinity", [*GEN[:7], "{traj_inf_fps}", *GEN[8:], *FAST], "traj_inf_fps.json"),
    ("generate/name-climbs-out", [*GEN[:7], "{traj_evil}", *GEN[8:], *FAST], "is not a safe name"),
    ("generate/name-absolute", [*GEN[:7], "{traj_abs}", *GEN[8:], *FAST], "is not a safe name"),
    ("generate/name-twice", [*GEN, "-t", "{traj_orbit}", *FAST], "given twice"),
    ("generate/preset-misspelt", [*GEN[:7], "orbitt", *GEN[8:], *FAST], "neither a preset"),
    ("generate/trajectory-nested-json", [*GEN[:7], "{traj_nested}", *GEN[8:], *FAST], "nested deeper"),
    ("generate/trajectory-not-json", [*GEN[:7], "{traj_broken}", *GEN[8:], *FAST], "not valid JSON"),
    ("generate/too-many-frames", [*GEN[:7], "{traj_long}", *GEN[8:], "--generator", "warp", "--max-side", "48"], "has 400 frames"),
    ("generate/max-side-1", [*GEN, "--generator", "warp", "--max-side", "1"], "--max-side: 1 is outside"),
    ("generate/max-side-0", [*GEN, "--generator", "warp", "--max-side", "0"], "--max-side: 0 is outside"),
    ("generate/max-side-negative", [*GEN, "--generator", "warp", "--max-side", "-3"], "--max-side: -3 is outside"),
    ("generate/frames-0", [*GEN, "--generator", "warp", "--frames", "0"], "--frames: 0 is outside"),
    ("generate/frames-huge", [*GEN, "--generator", "warp", "--frames", "100000"], "--frames: 100000 is outside"),
    ("generate/frames-not-a-number", [*GEN, "--frames", "abc"], "Invalid value for '--frames'"),
    ("generate/steps-0", [*GEN, *FAST, "--steps", "0"], "--steps: 0 is outside"),
    ("generate/unknown-option", [*GEN, "--fast"], "No such option"),
    ("generate/unknown-generator", [*GEN, "--generator", "magic"], "is not one of"),
    ("generate/unknown-plan", [*GEN, *FAST, "--plan", "best"], "--plan 'best'"),
    ("generate/plan-budget-without-auto", [*GEN, *FAST, "--plan-budget", "3"], "apply to --plan auto only"),
    ("generate/plan-budget-0", [*GEN[:6], *GEN[8:], *FAST, "--plan", "auto", "--plan-budget", "0"], "--plan-budget: 0 is outside"),
    ("generate/plan-min-gain-negative", [*GEN[:6], *GEN[8:], *FAST, "--plan", "auto", "--plan-min-gain", "-1"],
     "--plan-min-gain: -1.0 is not a number >= 0"),
    ("generate/plan-min-gain-nan", [*GEN[:6], *GEN[8:], *FAST, "--plan", "auto", "--plan-min-gain", "nan"],
     "--plan-min-gain: nan is not"),
    ("generate/fov-and-intrinsics", [*GEN, *FAST, "--intrinsics", "{photo}/K.json"], "not both"),
    ("generate/panorama-not-2-to-1", [*GEN, *FAST, "--panorama"], "equirectangular"),
    ("generate/output-is-a-file", [*GEN[:-2], "-o", "{a_file}", *FAST], "choose another -o"),
    ("generate/output-not-empty", [*GEN[:-2], "-o", "{photo}", *FAST], "not an empty folder"),
    ("generate/output-read-only", [*GEN[:-2], "-o", "{ro}/run", *FAST], "not writable"),
    ("generate/rerun-without-resume", ["generate", "object", "-t", "orbit", "-o", "{run}", *FAST], "pass --resume"),
    ("generate/resume-record-list", ["generate", "object", "-t", "orbit", "-o", "{run_list}", "--resume", *FAST], "run.json"),
    ("generate/resume-record-null-entry", ["generate", "object", "-t", "orbit", "-o", "{run_null}", "--resume", *FAST], "run.json"),
    ("generate/resume-other-settings", ["generate", "object", "-t", "orbit", "-o", "{run}", "--resume", "--generator", "warp",
                                        "--max-side", "64", "--frames", "3"], "--resume refused"),
    # --- demo -----------------------------------------------------------------------------------
    ("demo/unknown-sample", ["demo", "--sample", "kitchen", "-o", "{new}/d"], "not a bundled sample"),
    ("demo/unknown-generator", ["demo", "--generator", "magic", "-o", "{new}/d"], "--generator 'magic'"),
    ("demo/max-side-1", ["demo", "--generator", "warp", "--max-side", "1", "-o", "{new}/d"], "--max-side: 1 is outside"),
    ("demo/frames-0", ["demo", "--generator", "warp", "--frames", "0", "-o", "{new}/d"], "--frames: 0 is outside"),
    ("demo/device-missing", ["demo", "--device", "cuda:7", "-o", "{new}/d"], "--device cuda:7"),
    ("demo/output-is-a-file", ["demo", "--generator", "warp", "-o", "{a_file}"], "choose another -o"),
    ("demo/output-other-folder", ["demo", "--generator", "warp", "-o", "{photo}"], "not an empty folder"),
    # --- reconstruct ----------------------------------------------------------------------------
    ("reconstruct/output-is-a-file", ["reconstruct", "{run}", "-o", "{a_file}", "--method", "mvs"], "is a file"),
    ("reconstruct/output-read-only", ["reconstruct", "{run}", "-o", "{ro}/scene", "--method", "mvs"], "not writable"),
    ("reconstruct/input-missing", ["reconstruct", "{new}/nothing", "-o", "{new}/scene"], "does not exist"),
    ("reconstruct/unknown-method", ["reconstruct", "{run}", "-o", "{new}/scene", "--method", "magic"], "is not one of"),
    ("reconstruct/resolution-0", ["reconstruct", "{run}", "-o", "{new}/scene", "--resolution", "0"], "resolution"),
    # --- export ---------------------------------------------------------------------------------
    ("export/corrupt-scene", ["export", "{bad_scene}", "--mesh", "glb", "-o", "{new}/e"], "not a readable scene"),
    ("export/not-a-scene", ["export", "{photo}", "--mesh", "glb", "-o", "{new}/e"], "no scene.npz"),
    ("export/unknown-mesh-format", ["export", "{scene}", "--mesh", "stl", "-o", "{new}/e"], "is not one of"),
    ("export/nothing-asked", ["export", "{scene}", "-o", "{new}/e"], "nothing to export"),
    ("export/output-read-only", ["export", "{scene}", "--mesh", "glb", "-o", "{ro}/e"], "not writable"),
    ("export/output-is-a-file", ["export", "{scene}", "--mesh", "glb", "-o", "{a_file}"], "is a file"),
    # --- report ---------------------------------------------------------------------------------
    ("report/not-a-run", ["report", "{photo}"], "not a worldstereo run"),
    ("report/a-file", ["report", "{a_file}"], "{a_file}"),
    # --- trajectory -----------------------------------------------------------------------------
    ("trajectory-make/unknown-preset", ["trajectory", "make", "spiral", "-o", "{new}/t.json"], "is not one of"),
    ("trajectory-make/frames-0", ["trajectory", "make", "orbit", "--frames", "0", "-o", "{new}/t.json"], "must be an integer >= 2"),
    ("trajectory-make/fps-0", ["trajectory", "make", "orbit", "--fps", "0", "-o", "{new}/t.json"], "fps"),
    ("trajectory-make/width-0", ["trajectory", "make", "orbit", "--width", "0", "-o", "{new}/t.json"], "width"),
    ("trajectory-make/depth-negative", ["trajectory", "make", "orbit", "--depth", "-1", "-o", "{new}/t.json"], "must be > 0"),
    ("trajectory-make/output-read-only", ["trajectory", "make", "orbit", "-o", "{ro}/t.json"], "not writable"),
    ("trajectory-make/output-is-a-folder", ["trajectory", "make", "orbit", "-o", "{photo}"], "is a folder"),
    ("trajectory-make/missing-preset", ["trajectory", "make"], "Missing argument"),
    ("trajectory-show/bad-file", ["trajectory", "show", "{traj_broken}", "-o", "{new}/p.png"], "not valid JSON"),
    ("trajectory-show/output-read-only", ["trajectory", "show", "{traj_orbit}", "-o", "{ro}/p.png"], "not writable"),
    ("trajectory-convert/unknown-format", ["trajectory", "convert", "{traj_orbit}", "{new}/c.json", "--to", "blender"], "is not one of"),
    ("trajectory-convert/missing-input", ["trajectory", "convert", "{new}/none.json", "{new}/c.json", "--to", "official"], "no such"),
    ("trajectory-convert/nested-json", ["trajectory", "convert", "{traj_nested}", "{new}/c.json", "--from", "official"], "nested deeper"),
    ("trajectory-plan/missing-input", ["trajectory", "plan", "{new}/none.png", "-o", "{new}/p.png"], "none.png"),
    ("trajectory-plan/output-read-only", ["trajectory", "plan", "room", "-o", "{ro}/p.png"], "not writable"),
    ("trajectory-plan/too-few-frames", ["trajectory", "plan", "room", "-o", "{new}/p.png", "--frames", "1"], "frames"),
    ("trajectory-convert/output-read-only", ["trajectory", "convert", "{traj_orbit}", "{ro}/c.json", "--to", "official"], "not writable"),
    # --- sample ---------------------------------------------------------------------------------
    ("sample-export/unknown-sample", ["sample", "export", "kitchen", "{new}/s"], "does not exist"),
    ("sample-export/files-exist", ["sample", "export", "object", "{photo}"], "already exists"),
    ("sample-export/output-read-only", ["sample", "export", "object", "{ro}/s"], "not writable"),
    # --- train ----------------------------------------------------------------------------------
    ("train/unknown-stage", ["train", "warmup", "-o", "{new}/t"], "is not a stage"),
    ("train/unknown-preset", ["train", "base", "--config", "tiny-tpu", "-o", "{new}/t"], "unknown training preset"),
    ("train/output-read-only", ["train", "data", "-o", "{ro}/clips"], "not writable"),
    # --- bench ----------------------------------------------------------------------------------
    ("bench-camera/unknown-generator", ["bench", "camera", "--out", "{new}/b", "--generator", "magic"], "is not one of"),
    ("bench-camera/output-read-only", ["bench", "camera", "--out", "{ro}/b"], "not writable"),
    ("bench-camera/output-is-a-file", ["bench", "camera", "--out", "{a_file}"], "is a file"),
    ("bench-recon/unknown-generator", ["bench", "recon", "--out", "{new}/b", "--generator", "magic"], "is not one of"),
    ("bench-memory/unknown-generator", ["bench", "memory", "--out", "{new}/b", "--generator", "magic"], "is not one of"),
    ("bench/unknown-benchmark", ["bench", "speed", "--out", "{new}/b"], "No such command"),
    # --- top level ------------------------------------------------------------------------------
    ("worldstereo/unknown-command", ["paint"], "No such command"),
    ("worldstereo/unknown-option", ["--colour"], "No such option"),
]


# words that tell the user how to fix it: an instruction after ';', the allowed values, the range, the place
HINTS = (";", "one of", "--help", "must", "not both", "is outside", " give ", "at line ")


def _runner(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _read_only(folder: Path) -> bool:
    """Make ``folder`` read-only for this process: a read-only tmpfs as root, permissions otherwise."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    return ok


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import imageio.v3 as iio

    w = tmp_path_factory.mktemp("bad-input")
    assert _runner("sample", "export", "object", w / "photo", "-q").exit_code == 0
    (w / "text.png").write_text("this is not a PNG")
    (w / "empty.png").write_bytes(b"")
    (w / "truncated.png").write_bytes((w / "photo" / "depth.png").read_bytes()[:120])
    iio.imwrite(w / "small_depth.png", np.full((10, 10), 1000, np.uint16))
    (w / "a_file").write_text("x")
    assert _runner("trajectory", "make", "orbit", "--depth", 2.0, "--frames", 4, "-o", w / "orbit.json", "-q").exit_code == 0
    t = json.loads((w / "orbit.json").read_text())
    for name, change in {"traj_evil": {"name": "../../victim"}, "traj_abs": {"name": str(w / "photo")},
                         "traj_inf_fps": {"fps": "INF"}}.items():
        text = json.dumps({**t, **change}).replace('"INF"', "Infinity")
        (w / f"{name}.json").write_text(text)
    (w / "traj_nested.json").write_text("[" * 100000 + "]" * 100000)
    (w / "traj_broken.json").write_text('{"version": 1, ')
    assert _runner("trajectory", "make", "orbit", "--depth", 2.0, "--frames", 400, "-o", w / "traj_long.json",
                   "-q").exit_code == 0
    assert _runner("generate", "object", "-t", "orbit", "-t", "right", "-o", w / "run", "-q", *FAST).exit_code == 0
    for name, edit in {"run_list": lambda r: [], "run_null": lambda r: {**r, "trajectories": {"orbit": None}}}.items():
        shutil.copytree(w / "run", w / name)
        rec = json.loads((w / name / "run.json").read_text())
        (w / name / "run.json").write_text(json.dumps(edit(rec)))
    assert _runner("reconstruct", w / "run", "-o", w / "scene", "--method", "mvs", "--resolution", 48,
                   "--texture-resolution", 64, "-q").exit_code == 0
    shutil.copytree(w / "scene", w / "bad_scene")
    (w / "bad_scene" / "scene.npz").write_bytes(b"PK\x03\x04 not really a zip")
    ro = _read_only(w / "ro")
    (w / "new").mkdir()
    yield w, ro
    if ro and os.geteuid() == 0:
        subprocess.run(["umount", str(w / "ro")], capture_output=True)


def _snapshot(w: Path) -> dict:
    out = {}
    for p in sorted(w.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(w))] = p.read_bytes() if p.stat().st_size < (1 << 20) else p.stat().st_size
        else:
            out[str(p.relative_to(w))] = "dir"
    return out


FILES = {"photo": "photo", "text_png": "text.png", "empty_png": "empty.png", "truncated_png": "truncated.png",
         "small_depth": "small_depth.png", "a_file": "a_file", "traj_orbit": "orbit.json", "traj_evil": "traj_evil.json",
         "traj_abs": "traj_abs.json", "traj_inf_fps": "traj_inf_fps.json", "traj_nested": "traj_nested.json",
         "traj_broken": "traj_broken.json", "traj_long": "traj_long.json", "run": "run", "run_list": "run_list",
         "run_null": "run_null", "scene": "scene", "bad_scene": "bad_scene", "ro": "ro", "new": "new"}


@pytest.mark.parametrize("case, argv, message", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_and_leaves_nothing(world, case, argv, message):
    w, ro = world
    if any("{ro}" in a for a in argv) and not ro:
        pytest.skip("no way to make a read-only folder here (root without mount)")
    paths = {k: str(w / v) for k, v in FILES.items()}
    paths["new"] = str(w / "new" / case.replace("/", "-"))  # a fresh place per row that must stay absent
    args = [a.format(**paths) for a in argv]
    message = message.format(**paths)
    before = _snapshot(w)
    res = _runner(*args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, f"{case}: exit {res.exit_code}\n{res.output}"
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert len(lines) == 1, f"{case}: {len(lines)} lines\n{res.output}"
    assert lines[0].startswith("error: ") and message in lines[0], f"{case}: {lines[0]!r} lacks {message!r}"
    assert any(hint in lines[0] for hint in HINTS), \
        f"{case}: the line says what is wrong but not how to fix it: {lines[0]!r}"
    assert _snapshot(w) == before, f"{case}: files were created or changed"


def test_every_subcommand_has_rows():
    """A new subcommand must add its rows above."""
    import typer.main

    group = typer.main.get_command(app)
    commands = set()
    for name, cmd in group.commands.items():
        sub = getattr(cmd, "commands", None)
        commands |= {f"{name}-{s}" for s in sub} if sub else {name}
    covered = {r[0].split("/")[0] for r in ROWS}
    exempt = {"doctor", "sample-list", "view"}  # no input to get wrong (view's rows live in test_viewer_security.py)
    assert commands - covered - exempt == set(), f"subcommands without bad-input rows: {commands - covered - exempt}"
