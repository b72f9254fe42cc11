"""`worldstereo doctor`: probes agree with the environment, and a missing piece is named per feature."""

from __future__ import annotations

import json
import os
import shutil
import stat
from importlib import metadata, resources

import pytest
import torch
from typer.testing import CliRunner

from worldstereo import doctor
from worldstereo.cli import app


@pytest.fixture(scope="module")
def report():
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_doctor_json_agrees_with_the_environment(report):
    checks = {c["name"]: c for c in report["checks"]}
    assert set(n for needs in doctor.FEATURES.values() for n in needs) <= set(checks)
    assert checks["torch"]["detail"] == f"torch {torch.__version__}"
    assert checks["cuda"]["ok"] == torch.cuda.is_available()
    assert checks["chromium"]["ok"] == (shutil.which("chromium") is not None)
    assert checks["plyfile"]["detail"] == f"plyfile {metadata.version('plyfile')}"
    assert os.path.isfile(checks["ffmpeg"]["detail"])
    folder = resources.files("worldstereo").joinpath(doctor.TINY_WEIGHTS)
    has_weights = folder.is_dir() and any(p.name.endswith(".safetensors") for p in folder.iterdir())
    assert checks["tiny weights"]["ok"] == has_weights
    for feature, state in report["features"].items():
        needs = doctor.FEATURES[feature]
        assert state["missing"] == [n for n in needs if not checks[n]["ok"]]
        assert state["ready"] == (not state["missing"])


def test_missing_chromium_is_reported_with_its_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    check = doctor._chromium()
    assert not check.ok and check.fix == "apt-get install -y chromium"


def test_broken_assimp_binary_is_not_ok(monkeypatch, tmp_path):
    exe = tmp_path / "cmeel.prefix" / "bin" / "assimp"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\necho 'libassimp.so.6: cannot open shared object file' >&2\nexit 127\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(doctor.sysconfig, "get_paths", lambda: {"purelib": str(tmp_path)})
    check = doctor._assimp()
    assert not check.ok and "libassimp.so.6" in check.detail


def test_features_name_what_they_lack(monkeypatch):
    checks = [doctor.Check(n, n != "usd", "") for needs in doctor.FEATURES.values() for n in needs]
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)
    features = doctor.diagnose()["features"]
    assert features["export USD"] == {"ready": False, "missing": ["usd"]}
    assert all(s["ready"] for f, s in features.items() if f != "export USD")


def test_failed_import_probe_reports_the_error():
    check = doctor._probe_import("nothing", "import worldstereo_no_such_module", "nothing", "pip install nothing")
    assert not check.ok and "No module named 'worldstereo_no_such_module'" in check.detail


def test_doctor_table_lists_every_feature():
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for feature in doctor.FEATURES:
        assert f"{feature}: " in result.stdout
