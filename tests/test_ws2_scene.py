"""The scene loop with the ws2 generator: a tiny random memory-dmd instance saved in the released layout,
the default plan (orbit -> up -> right -> left), Cache3D growth, MemoryBank references, then reconstruction
and the viewer's data on that run. Random weights give noise frames, on which plane-sweep stereo finds no
multi-view-consistent pixel with the default filter: the reconstruction here relaxes that filter (and leans
on the run's Cache3D prior) to check that the run's files carry it end to end, not the surface's quality."""

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

    # every reference is a frame of the MemoryBank ("<source>:<index>" of a bank frame)
    bank = json.loads((run.root / "memory" / "bank.json").read_text())["frames"]
    in_bank = {f"{f['source']}:{f['index']}" for f in bank}
    for name in PLAN:
        refs = json.loads((run.root / "trajectories" / name / "references.json").read_text())
        assert set(refs["reference_sources"]) <= in_bank, (name, refs["reference_sources"])
    # the bank holds the input and keyframes of every trajectory
    assert {f["source"] for f in bank} == {"input", *PLAN}

    # reconstruction of the run directory (its frames, cameras and cache.ply)
    from worldstereo.reconstruction import ReconstructionConfig, reconstruct_scene
    from worldstereo.viewer import load_run, write_viewer
    from worldstereo.viewer.html import viewer_data
    from worldstereo.viewer.rundata import read_ply_mesh, read_ply_points

    cfg = ReconstructionConfig(method="mvs", resolution=64, mvs_num_depths=8, bake_textures=False,
                               mvs_geometric_consistency=False, mvs_min_ncc=-1.0)
    scene = reconstruct_scene(run.root, None, run.root / "reconstruction", config=cfg, progress=None)
    assert scene.metadata["parameters"]["used_cache_prior"]
    for f in ("mesh.ply", "points.ply", "cameras.json", "metadata.json"):
        assert (run.root / "reconstruction" / f).is_file(), f
    _, _, tris = read_ply_mesh(run.root / "reconstruction" / "mesh.ply")
    assert len(tris) > 0

    # the viewer's data of that run: nothing missing, every layer, trajectory and bank frame
    contents = load_run(run.root)
    assert contents.missing == []
    data = viewer_data(contents)
    assert data["missing"] == []
    cache_xyz, _ = read_ply_points(run.root / "cache.ply")
    assert len(cache_xyz) == steps[-1]["points"]
    assert data["layers"]["cache"]["total"] == len(cache_xyz)
    assert data["layers"]["points"]["total"] == len(read_ply_points(run.root / "reconstruction" / "points.ply")[0])
    assert data["layers"]["mesh"]["faces"] == len(tris)
    assert [t["name"] for t in data["trajectories"]] == PLAN
    assert len(data["bank"]) == len(bank)
    page = write_viewer(run.root)
    assert page.is_file() and 'id="run-data"' in page.read_text()


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
