"""``worldstereo reconstruct`` and ``worldstereo export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import Output, UserError, check_output, command


def reconstruct(
    out: Output,
    inputs: list[Path] = typer.Argument(..., help="Video file(s) or frame folder(s), one per trajectory, or a run directory."),
    output_dir: Path = typer.Option(..., "-o", "--output", help="Scene directory to write."),
    trajectory: Optional[list[Path]] = typer.Option(None, "--trajectory", "-t", help="Trajectory .json per input (not for a run directory)."),
    method: str = typer.Option("neural", help="mvs | neural | hybrid"),
    resolution: int = typer.Option(512, help="Working image long side / TSDF voxel scale."),
    density: str = typer.Option("medium", help="Point-cloud density: low | medium | high."),
    depth_estimation: bool = typer.Option(True, help="Use the run's Cache3D as a depth prior."),
    panoramic: bool = typer.Option(False, help="Inputs are equirectangular panorama videos."),
    neural_iterations: Optional[int] = typer.Option(None, help="Neural optimisation steps (default from ReconstructionConfig)."),
    texture_resolution: int = typer.Option(1024, help="Baked texture side (power of two)."),
    device: Optional[str] = typer.Option(None, "--device", help="Device of the neural surface fit: cpu, cuda … (default: cuda if available)."),
) -> None:
    """Reconstruct a textured mesh and a point cloud from videos with known cameras."""
    from ..reconstruction import ReconstructionConfig, reconstruct_scene

    check_output(output_dir)
    for p in inputs:
        if not p.exists():
            raise UserError(f"{p}: does not exist; give a video file, a frame folder or a run directory")
    options = dict(method=method, resolution=resolution, point_cloud_density=density, depth_estimation=depth_estimation,
                   panoramic_input=panoramic, texture_resolution=texture_resolution, device=device)
    if neural_iterations is not None:
        options["neural_iterations"] = neural_iterations
    cfg = ReconstructionConfig(**options)
    video = inputs[0] if len(inputs) == 1 else list(inputs)
    trajs = None if not trajectory else (trajectory[0] if len(trajectory) == 1 else list(trajectory))
    with out.progress(transient=True) as display:
        scene = reconstruct_scene(video, trajs, output_dir, method=method, resolution=resolution,
                                  point_cloud_density=density, depth_estimation=depth_estimation,
                                  config=cfg, panoramic_input=panoramic, progress=display.step_callback())
    q = scene.metadata["quality_metrics"]
    summary = {"scene": str(output_dir), "method": method, "vertices": len(scene.mesh.vertices),
               "faces": len(scene.mesh.faces), "points": len(scene.point_cloud.points),
               "quality_metrics": q, "timings": scene.metadata.get("timings", {})}
    out.result(summary, lambda: out.say(
        f"wrote {output_dir}: {summary['vertices']} vertices, {summary['points']} points; "
        + ", ".join(f"{k} {v:.3f}" for k, v in q.items())))


def _load_scene(scene_dir: Path, cls):
    """A scene folder written by ``reconstruct``; a missing or damaged one is one line naming it."""
    if not (scene_dir / "scene.npz").is_file():
        raise UserError(f"{scene_dir}: no scene.npz; give a folder written by `worldstereo reconstruct`")
    try:
        return cls.load(scene_dir)
    except UserError:
        raise
    except Exception as exc:  # numpy/zipfile/Open3D raise many types for damaged files
        raise UserError(f"{scene_dir}/scene.npz: not a readable scene ({type(exc).__name__}: {str(exc)[:60]}); "
                        "rerun `worldstereo reconstruct` to write it again") from None


def export(
    out: Output,
    scene_dir: Path = typer.Argument(..., help="Scene directory written by 'worldstereo reconstruct'."),
    mesh: Optional[str] = typer.Option(None, "--mesh", help="obj | ply | gltf | glb | fbx | usd"),
    points: Optional[str] = typer.Option(None, "--points", help="ply | pcd | xyz | las"),
    output_dir: Optional[Path] = typer.Option(None, "-o", "--output", help="Output folder (default: SCENE_DIR/export)."),
    texture_resolution: int = typer.Option(2048, help="Texture side in pixels (power of two)."),
    textures: bool = typer.Option(True, help="Write texture maps (else vertex colours)."),
) -> None:
    """Export a reconstructed scene's mesh and/or point cloud."""
    from ..reconstruction import (
        MESH_FORMATS,
        POINT_FORMATS,
        ReconstructedScene,
        export_mesh,
        export_point_cloud,
    )

    if mesh is None and points is None:
        raise UserError("nothing to export: give --mesh FMT and/or --points FMT")
    if mesh is not None and mesh not in MESH_FORMATS:
        raise UserError(f"--mesh {mesh!r} is not one of {', '.join(MESH_FORMATS)}")
    if points is not None and points not in POINT_FORMATS:
        raise UserError(f"--points {points!r} is not one of {', '.join(POINT_FORMATS)}")
    folder = output_dir or scene_dir / "export"
    check_output(folder)
    scene = _load_scene(scene_dir, ReconstructedScene)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    with out.progress(transient=True) as display:
        bar = display.task("export", total=(mesh is not None) + (points is not None))
        if mesh is not None:
            ext = {"usd": "usda"}.get(mesh, mesh)
            written["mesh"] = str(export_mesh(scene, folder / f"mesh.{ext}", format=mesh, include_textures=textures,
                                              texture_resolution=texture_resolution))
            bar.update(advance=1)
        if points is not None:
            written["points"] = str(export_point_cloud(scene, folder / f"points.{points}", format=points))
            bar.update(advance=1)
    out.result({"scene": str(scene_dir), "files": written},
               lambda: [out.say(f"wrote {p}") for p in written.values()])


def register(root: typer.Typer) -> None:
    """Add the reconstruct and export commands to the root command (called once, from ``cli/__init__``)."""
    command(root, "reconstruct")(reconstruct)
    command(root, "export")(export)
