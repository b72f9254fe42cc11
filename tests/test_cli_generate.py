"""`worldstereo generate`: a small real run, and every kind of bad input -> one line, exit 2, nothing half-written."""

import json
import logging
import os

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from worldstereo.cli import app
from worldstereo.data.samples import load_sample

FAST = ["--generator", "warp", "--max-side", "64", "--frames", "5", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(res, message):
    assert res.exit_code == 2, res.output
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], res.output


@pytest.fixture
def photo(tmp_path):
    s = load_sample("object")
    iio.imwrite(tmp_path / "photo.png", (s.image * 255).astype(np.uint8))
    np.save(tmp_path / "depth.npy", s.depth)
    return tmp_path / "photo.png", tmp_path / "depth.npy", s


def test_generate_from_a_photo_with_depth_and_json_summary(tmp_path, photo):
    img, depth, s = photo
    res = invoke("generate", img, "--depth", depth, "--fov", 60, "--trajectory", "left", "--trajectory", "orbit",
                 "-o", tmp_path / "run", "--json", *FAST)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert [t["trajectory"] for t in summary["trajectories"]] == ["left", "orbit"]
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert rec["input"]["depth_source"].startswith("file:") and rec["input"]["K_source"] == "fov:60"
    assert rec["input"]["working_size"] == [64, 36]  # long side capped, aspect kept


def _no_run_left(path):
    return not path.exists() or not any(path.rglob("*.mp4"))


def test_unreadable_image(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    res = invoke("generate", bad, "--depth", bad, "-o", tmp_path / "run", *FAST)
    _one_line_error(res, "not a readable image")
    assert _no_run_left(tmp_path / "run")


def test_panorama_must_be_2_to_1(tmp_path, photo):
    img, depth, _ = photo
    res = invoke("generate", img, "--panorama", "--depth", depth, "-o", tmp_path / "run", *FAST)
    _one_line_error(res, "width = 2 x height")


def test_depth_must_match_and_be_finite(tmp_path, photo):
    img, depth, s = photo
    np.save(tmp_path / "small.npy", s.depth[::2, ::2])
    _one_line_error(invoke("generate", img, "--depth", tmp_path / "small.npy", "-o", tmp_path / "r1", *FAST),
                    "but the image is 512x288")
    bad = s.depth.copy()
    bad[3, 4] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    _one_line_error(invoke("generate", img, "--depth", tmp_path / "inf.npy", "-o", tmp_path / "r2", *FAST),
                    "non-finite depth")
    assert _no_run_left(tmp_path / "r1") and _no_run_left(tmp_path / "r2")


def test_plain_photo_without_depth_names_the_three_ways(tmp_path, photo):
    img, _, _ = photo
    res = invoke("generate", img, "-o", tmp_path / "run", *FAST)
    _one_line_error(res, "--depth FILE")
    assert "--depth-model NAME_OR_DIR" in res.output and "sample" in res.output


def test_invalid_trajectory_file_points_at_the_field(tmp_path):
    assert invoke("trajectory", "make", "up", "--frames", 5, "-o", tmp_path / "t.json").exit_code == 0
    data = json.loads((tmp_path / "t.json").read_text())
    data["frames"][3]["cam_from_world"][2][2] = 7.0
    (tmp_path / "t.json").write_text(json.dumps(data))
    res = invoke("generate", "object", "--trajectory", tmp_path / "t.json", "-o", tmp_path / "run", *FAST)
    _one_line_error(res, "frames[3].cam_from_world: rotation is not orthonormal")


def test_resolution_not_multiple_of_model_factor_is_resized_with_notice(caplog):
    from worldstereo.pipelines.api import WorldStereo

    ws = WorldStereo.from_pretrained("worldstereo-tiny")
    with caplog.at_level(logging.INFO, logger="worldstereo"):
        prepared = ws.prepare("object")
    h, w = prepared.state.height, prepared.state.width
    assert h % ws.generator.size_multiple == 0 and w % ws.generator.size_multiple == 0
    assert "input 512x288 cropped to" in caplog.text and f"resized to {w}x{h}" in caplog.text
    assert "--max-side does not apply" in caplog.text  # the log says what really happens
    x0, y0, wc, hc = prepared.record["crop"]
    assert abs(wc / hc - w / h) < 0.5 / min(wc, hc) * 2  # aspect kept to the input pixel, not stretched ~5 %
    # K follows the crop then the resize: the principal point stays at the centre of the crop
    assert np.allclose(prepared.state.K[:2, 2], [w / 2, h / 2], atol=0.5)


def test_aspect_crop_and_intrinsics_follow_the_pixels():
    from worldstereo.camera import crop_intrinsics, intrinsics_from_fov, scale_intrinsics
    from worldstereo.pipelines.inputs import aspect_crop

    assert aspect_crop(300, 451, 56, 80) == (11, 0, 429, 300)
    assert aspect_crop(288, 512, 36, 64) == (0, 0, 512, 288)  # same aspect: nothing cropped
    x0, y0, wc, hc = aspect_crop(1000, 500, 64, 64)
    assert (wc, hc) == (500, 500) and (x0, y0) == (0, 250)
    # a point at input pixel (u, v) lands where the cropped-and-resized K projects it
    K0 = intrinsics_from_fov(60, 451, 300)
    x0, y0, wc, hc = aspect_crop(300, 451, 56, 80)
    K = scale_intrinsics(crop_intrinsics(K0, x0, y0), 80 / wc, 56 / hc)
    X = np.array([0.3, -0.2, 2.0])
    u0 = (K0 @ X)[:2] / X[2]
    u = (K @ X)[:2] / X[2]
    assert np.allclose(u, (u0 - [x0, y0]) * [80 / wc, 56 / hc])


def test_output_directory_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(invoke("generate", "object", "-o", blocker / "run", *FAST), "not writable")


def test_model_directory_missing_files(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    _one_line_error(invoke("generate", "object", "--generator", "tiny", "--model-dir", tmp_path / "model",
                           "-o", tmp_path / "run", "--quiet"), "expected config.json, backbone.safetensors")
    (tmp_path / "wan" / "transformer").mkdir(parents=True)
    _one_line_error(invoke("generate", "object", "--generator", "wan", "--model-dir", tmp_path / "wan",
                           "-o", tmp_path / "run", "--quiet"), "incomplete Wan2.1-I2V directory, missing")
    _one_line_error(invoke("generate", "object", "--generator", "wan", "-o", tmp_path / "run", "--quiet"),
                    "needs --model-dir")
    assert not (tmp_path / "run").exists()


def test_resume_with_other_inputs_is_refused(tmp_path):
    out = tmp_path / "run"
    assert invoke("generate", "object", "--trajectory", "left", "-o", out, *FAST).exit_code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    _one_line_error(invoke("generate", "object", "--trajectory", "left", "--seed", 3, "--resume", "-o", out, *FAST),
                    "setting 'seed' differs")
    _one_line_error(invoke("generate", "room", "--trajectory", "left", "--resume", "-o", out, *FAST),
                    "input 'image' differs")
    _one_line_error(invoke("generate", "object", "--trajectory", "left", "-o", out, *FAST), "pass --resume")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert os.access(out / "run.json", os.R_OK)
