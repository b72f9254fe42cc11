"""Bundled samples: present, small, consistent with the engine, exported by the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from worldstereo.camera import Cameras
from worldstereo.cli import app
from worldstereo.data.samples import SPECS, build_sample, export_sample, list_samples, load_sample, samples_dir


def test_at_least_a_room_an_object_and_a_panorama_are_bundled():
    names = {s["name"] for s in list_samples()}
    assert {"room", "object", "panorama"} <= names
    assert {s["projection"] for s in list_samples()} == {"perspective", "equirectangular"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sample_files_are_small_and_consistent(name):
    folder = samples_dir() / name
    for f in folder.iterdir():
        assert f.stat().st_size < 1_000_000, f
    sample = load_sample(name)
    spec = SPECS[name]
    assert sample.image.shape == (spec.height, spec.width, 3) and sample.image.dtype == np.float32
    assert sample.depth.shape == (spec.height, spec.width) and (sample.depth > 0).mean() > 0.6
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["scene"]["seed"] == spec.seed and meta["depth"]["units"] == "metres"
    if spec.projection == "perspective":
        assert sample.K is not None and meta["depth"]["kind"] == "z"
        Cameras(sample.K, np.eye(4), spec.width, spec.height)
    else:
        assert sample.K is None and meta["depth"]["kind"] == "distance" and spec.width == 2 * spec.height


def test_bundled_sample_is_what_the_engine_makes_from_its_seed():
    rebuilt = build_sample("object")
    bundled = load_sample("object")
    assert np.abs(np.round(rebuilt.image * 255) / 255 - bundled.image).max() <= 1 / 255 + 1e-6
    assert np.abs(rebuilt.depth - bundled.depth).max() <= 0.5e-3 + 1e-6  # millimetre PNG quantisation
    np.testing.assert_allclose(rebuilt.K, bundled.K)


def test_export_copies_files_and_refuses_to_overwrite(tmp_path):
    written = export_sample("room", tmp_path / "room")
    assert {p.name for p in written} == {"image.png", "depth.png", "meta.json", "K.json"}
    with pytest.raises(FileExistsError):
        export_sample("room", tmp_path / "room")
    with pytest.raises(ValueError, match="sample list"):
        export_sample("nope", tmp_path / "x")


def test_cli_sample_list_and_export(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["sample", "list"])
    assert res.exit_code == 0 and "panorama" in res.output
    res = runner.invoke(app, ["sample", "export", "panorama", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "image.png").is_file() and not (tmp_path / "p" / "K.json").exists()
    res = runner.invoke(app, ["sample", "export", "nope", str(tmp_path / "q")])
    assert res.exit_code == 2 and "does not exist" in res.output
