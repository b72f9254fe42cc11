"""`worldstereo generate` with --depth-model: a photo with EXIF and a panorama, end to end with a
tiny random model saved locally; a hub id with the network off fails in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depth_model_fixtures import save_tiny_depth_model
from worldstereo.cli import app
from worldstereo.data.samples import load_sample
from worldstereo.pipelines.exif import EXIF_IFD, TAG_FOCAL_35MM

FAST = ["--generator", "warp", "--max-side", "48", "--frames", "3", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {n: save_tiny_depth_model(n, root) for n in ("depth-anything-relative", "depth-pro")}


def test_photo_with_relative_model_and_exif_focal(tmp_path, models):
    s = load_sample("object")
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[TAG_FOCAL_35MM] = 26
    Image.fromarray((s.image * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", exif=exif)
    res = invoke("generate", tmp_path / "photo.jpg", "--depth-model", models["depth-anything-relative"],
                 "--trajectory", "left", "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "run" / "run.json").read_text())["input"]
    assert rec["K_source"].startswith("exif:FocalLengthIn35mmFilm=26")
    assert rec["depth_units"].startswith("relative")
    assert rec["depth_source"] == "transformers:depth-anything-relative"


def test_photo_with_depth_pro_takes_K_from_the_model(tmp_path, models):
    s = load_sample("object")
    Image.fromarray((s.image * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    res = invoke("generate", tmp_path / "photo.png", "--depth-model", models["depth-pro"],
                 "--trajectory", "left", "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "run" / "run.json").read_text())["input"]
    assert rec["K_source"] == "depth-model" and rec["depth_units"] == "metric (m)"


def test_panorama_with_depth_model(tmp_path, models):
    s = load_sample("panorama")
    small = Image.fromarray((s.image * 255).astype(np.uint8)).resize((128, 64), Image.BILINEAR)
    small.save(tmp_path / "pano.jpg")
    res = invoke("generate", tmp_path / "pano.jpg", "--panorama", "--depth-model", models["depth-anything-relative"],
                 "--trajectory", "left", "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "run" / "run.json").read_text())["input"]
    assert rec["kind"] == "panorama" and "panorama-views:29" in rec["depth_source"]
    assert "median distance = 1" in rec["depth_units"]


def test_hub_id_offline_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    s = load_sample("object")
    Image.fromarray((s.image * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    res = invoke("generate", tmp_path / "photo.png", "--depth-model", "someone/depth-model-x",
                 "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "HF_HUB_OFFLINE" in lines[0], res.output


def test_depth_model_from_the_environment(tmp_path, models, monkeypatch):
    """WORLDSTEREO_DEPTH_MODEL stands in for --depth-model (the API document's scripts pass none)."""
    s = load_sample("object")
    Image.fromarray((s.image * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    monkeypatch.setenv("WORLDSTEREO_DEPTH_MODEL", str(models["depth-pro"]))
    res = invoke("generate", tmp_path / "photo.png", "--trajectory", "left", "-o", tmp_path / "run", *FAST)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["input"]["K_source"] == "depth-model"
