"""`worldstereo bench recon|memory --quick` on the warp generator: complete, resumable reports."""

import json

import pytest
from typer.testing import CliRunner

from worldstereo.cli import app

KEYS = {"bench", "settings", "versions", "seeds", "units", "aggregate", "timings"}


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def _check(out, bench, png, headers):
    results = json.loads((out / "results.json").read_text())
    assert KEYS <= set(results) and results["bench"] == bench
    assert results["settings"]["suite"]["size"] == "quick" and results["versions"]["worldstereo"]
    report = (out / "report.md").read_text()
    for h in headers:
        assert h in report, h
    assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return results, report


def test_bench_recon_quick(tmp_path, runner):
    out = tmp_path / "recon"
    res = runner.invoke(app, ["bench", "recon", "--out", str(out), "--quick", "--json"])
    assert res.exit_code == 0, res.output
    results, _ = _check(out, "recon", "fscore.png", ["| method / memory | F1-Score | AUC | PSNR | RotErr | TransErr | ATE |"])
    assert set(results["aggregate"]) == {"warp/none", "warp/ggm", "warp/full"}
    for unit in results["units"].values():
        assert 0 <= unit["f1"] <= 1 and 0 <= unit["auc"] <= 1 and unit["points"] > 0
    assert json.loads(res.stdout.strip().splitlines()[-1])["bench"] == "recon"
    again = runner.invoke(app, ["bench", "recon", "--out", str(out)])
    assert again.exit_code == 0 and again.output.count("done earlier") == 3


def test_bench_memory_quick(tmp_path, runner):
    out = tmp_path / "memory"
    res = runner.invoke(app, ["bench", "memory", "--out", str(out)])
    assert res.exit_code == 0, res.output
    results, report = _check(out, "memory", "memory.png",
                             ["| method | PSNR | SSIM | RotErr | TransErr | ATE |", "| order | orbit | up | right | left | all |"])
    abl = results["aggregate"]["ablation"]
    assert abl["warp/dmd"] == {"available": False} and "warp-dmd | n/a" in report
    assert all(abl[f"warp/{r}"]["psnr"] > 5 for r in ("baseline", "ggm", "full"))
    # the cross-trajectory consistency of revisited views is measured for every row (whether GGM raises
    # it is a finding of the benchmark, reported in report.md, not an invariant of the code)
    for r in ("baseline", "ggm", "full"):
        assert 5 < abl[f"warp/{r}"]["consistency_photometric_psnr"] < 100
    orders = results["aggregate"]["order"]
    assert orders["warp/input-only"]["reference_share_generated"] == 0.0
    assert orders["warp/orbit,up,right,left"]["reference_share_generated"] > 0


def test_bench_rejects_bad_options(tmp_path, runner):
    res = runner.invoke(app, ["bench", "camera", "--out", str(tmp_path), "--generator", "nope"])
    assert res.exit_code == 2 and "not one of" in res.output
