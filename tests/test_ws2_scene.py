"""The scene loop with the ws2 generator: a tiny random memory-dmd instance saved in the released layout,
the default plan (orbit -> up -> right -> left), Cache3D growth, MemoryBank references. (Reconstruction of
the run is not asserted: random weights give noise frames, from which MVS finds no surface.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from worldstereo.pipelines.api import WorldStereo

FIX = Path(__file__).parent / "fixtures" / "ws2"
PLAN = ["orbit", "up", "right", "left"]


@pytest.fixture()
def release(tmp_path):
    """A release folder (memory-dmd only) + a base folder, the tiny fixture weights, marked untrained."""
    root = tmp_path / "release"
    shutil.copytree(FIX / "worldstereo-memory-dmd", root / "worldstereo-memory-dmd")
    cfg = json.loads((root / "worldstereo-memory-dmd" / "config.json").read_text())
    # a working size where the cache's overlap checks have pixels to work with; 5 keyframes
    cfg.update(base_model="nowhere/not-a-folder", untrained=True, scale_map=[[96, 128]], nframe=5)
    (root / "worldstereo-memory-dmd" / "config.json").write_text(json.dumps(cfg))
    shutil.copytree(FIX / "base", tmp_path / "base")
    return root, tmp_path / "base"


def test_from_pretrained_picks_ws2_by_layout_and_variant(release):
    root, base = release
    ws = WorldStereo.from_pretrained(str(root), base_model=base)
    assert ws.generator.name == "ws2" and ws.generator.describe()["variant"] == "memory-dmd"
    with pytest.raises(ValueError, match="not one of camera, memory, memory-dmd"):
        WorldStereo.from_pretrained(str(root), variant="dmd", base_model=base)
    with pytest.raises(FileNotFoundError, match="worldstereo-memory/config.json"):
        WorldStereo.from_pretrained(str(root), variant="memory", base_model=base)


def test_hub_ids_need_permission_and_network(release, monkeypatch):
    root, _ = release
    # the config names a hub id as base model: refused without --allow-download, refused offline with it
    with pytest.raises(ValueError, match="--allow-download"):
        WorldStereo.from_pretrained(str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        WorldStereo.from_pretrained(str(root), allow_download=True)


def test_default_plan_with_ws2_grows_cache_and_reconstructs(release, tmp_path):
    root, base = release
    ws = WorldStereo.from_pretrained(str(root), variant="memory-dmd", base_model=base)
    run = ws.generate_scene("object", output_dir=tmp_path / "run", resume=False)
    rec = json.loads((run.root / "run.json").read_text())
    steps = rec["cache_steps"]
    assert [s["after"] for s in steps] == ["input", *PLAN]
    assert all(b["points"] > a["points"] for a, b in zip(steps, steps[1:])), steps
    generated_refs = []
    for name in PLAN:
        folder = run.root / "trajectories" / name
        assert len(list((folder / "frames").glob("*.png"))) == 5  # nframe keyframes
        refs = json.loads((folder / "references.json").read_text())
        # the release retrieves for every target keyframe
        assert refs["every"] == 1 and refs["targets"] == [0, 1, 2, 3, 4]
        generated_refs.append(any(not s.startswith("input") for s in refs["reference_sources"]))
    # the first trajectory can only see the input; later ones find frames generated before them
    assert not generated_refs[0] and any(generated_refs[1:])
    assert rec["settings"]["generator"]["name"] == "ws2"
    assert rec["trajectories"]["left"]["generator_info"]["references"] >= 1

    # the run holds what reconstruction reads: per-trajectory cameras and frames, and the grown cache
    assert (run.root / "cache.ply").is_file()
    for name in PLAN:
        assert (run.root / "trajectories" / name / "cameras.json").is_file()


def test_cli_generate_with_ws2(release, tmp_path):
    from typer.testing import CliRunner

    from worldstereo.cli.app import app

    root, base = release
    runner = CliRunner()
    res = runner.invoke(app, ["generate", "object", "-o", str(tmp_path / "a"), "--generator", "ws2"])
    assert res.exit_code == 2 and "needs --model-dir" in res.output and res.output.strip().count("\n") == 0
    res = runner.invoke(app, ["generate", "object", "-o", str(tmp_path / "b"), "--generator", "ws2", "--model-dir",
                              str(root), "--base-model", str(base), "--variant", "memory"])
    assert res.exit_code == 2 and "worldstereo-memory/config.json" in res.output
    res = runner.invoke(app, ["generate", "object", "-o", str(tmp_path / "c"), "--generator", "ws2", "--model-dir",
                              str(root), "--base-model", str(base), "-t", "orbit", "--json"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "c" / "trajectories" / "orbit" / "frames").glob("*.png"))) == 5


@pytest.mark.parametrize("variant", ["camera", "memory"])
def test_unipc_variants_generate_one_trajectory(variant, tmp_path):
    """The 40-step UniPC variants (run here with 2 steps and guidance 5) through the same backend."""
    root = tmp_path / "release"
    shutil.copytree(FIX / f"worldstereo-{variant}", root / f"worldstereo-{variant}")
    ws = WorldStereo.from_pretrained(str(root), variant=variant, base_model=FIX / "base")
    assert ws.generator.describe()["sampler"] == "unipc"
    run = ws.generate_scene("object", trajectories=["orbit"], output_dir=tmp_path / "run", resume=False, steps=2,
                            guidance=5.0)
    rec = json.loads((run.root / "run.json").read_text())
    info = rec["trajectories"]["orbit"]["generator_info"]
    assert info["variant"] == variant and info["references"] == (0 if variant == "camera" else 1)
    assert len(list((run.root / "trajectories" / "orbit" / "frames").glob("*.png"))) == 3
