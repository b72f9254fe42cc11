"""``worldstereo reconstruct`` and ``worldstereo export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import UserError, _run, app, console


@app.command("reconstruct")
def reconstruct(
    inputs: list[Path] = typer.Argument(..., help="Video file(s) or frame folder(s), one per trajectory, or a run directory."),
    output: Path = typer.Option(..., "-o", "--output", help="Scene directory to write."),
    trajectory: Optional[list[Path]] = typer.Option(None, "--trajectory", "-t", help="Trajectory .json per input (not for a run directory)."),
    method: str = typer.Option("neural", help="mvs | neural | hybrid"),
    resolution: int = typer.Option(512, help="Working image long side / TSDF voxel scale."),
    density: str = typer.Option("medium", help="Point-cloud density: low | medium | high."),
    depth_estimation: bool = typer.Option(True, help="Use the run's Cache3D as a depth prior."),
    panoramic: bool = typer.Option(False, help="Inputs are equirectangular panorama videos."),
    neural_iterations: Optional[int] = typer.Option(None, help="Neural optimisation steps (default from ReconstructionConfig)."),
    texture_resolution: int = typer.Option(1024, help="Baked texture side (power of two)."),
) -> None:
    """Reconstruct a textured mesh and a point cloud from videos with known cameras."""

    def body() -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from ..reconstruction import ReconstructionConfig, reconstruct_scene

        options = dict(method=method, resolution=resolution, point_cloud_density=density, depth_estimation=depth_estimation,
                       panoramic_input=panoramic, texture_resolution=texture_resolution)
        if neural_iterations is not None:
            options["neural_iterations"] = neural_iterations
        cfg = ReconstructionConfig(**options)
        video = inputs[0] if len(inputs) == 1 else list(inputs)
        trajs = None if not trajectory else (trajectory[0] if len(trajectory) == 1 else list(trajectory))
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=total)
                bar.update(tasks[step], completed=done)

            scene = reconstruct_scene(video, trajs, output, method=method, resolution=resolution,
                                      point_cloud_density=density, depth_estimation=depth_estimation,
                                      config=cfg, panoramic_input=panoramic, progress=progress)
        q = scene.metadata["quality_metrics"]
        console.print(f"wrote {output}: {len(scene.mesh.vertices)} vertices, {len(scene.point_cloud.points)} points; "
                      + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))

    _run(body)




@app.command("export")
def export(
    scene_dir: Path = typer.Argument(..., help="Scene directory written by 'worldstereo reconstruct'."),
    mesh: Optional[str] = typer.Option(None, "--mesh", help="obj | ply | gltf | glb | fbx | usd"),
    points: Optional[str] = typer.Option(None, "--points", help="ply | pcd | xyz | las"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output folder (default: SCENE_DIR/export)."),
    texture_resolution: int = typer.Option(2048, help="Texture side in pixels (power of two)."),
    textures: bool = typer.Option(True, help="Write texture maps (else vertex colours)."),
) -> None:
    """Export a reconstructed scene's mesh and/or point cloud."""

    def body() -> None:
        from ..reconstruction import MESH_FORMATS, POINT_FORMATS, ReconstructedScene, export_mesh, export_point_cloud

        if mesh is None and points is None:
            raise UserError("nothing to export: give --mesh FMT and/or --points FMT")
        if mesh is not None and mesh not in MESH_FORMATS:
            raise UserError(f"--mesh {mesh!r} is not one of {', '.join(MESH_FORMATS)}")
        if points is not None and points not in POINT_FORMATS:
            raise UserError(f"--points {points!r} is not one of {', '.join(POINT_FORMATS)}")
        scene = ReconstructedScene.load(scene_dir)
        out = output or scene_dir / "export"
        out.mkdir(parents=True, exist_ok=True)
        if mesh is not None:
            ext = {"usd": "usda"}.get(mesh, mesh)
            path = export_mesh(scene, out / f"mesh.{ext}", format=mesh, include_textures=textures,
                               texture_resolution=texture_resolution)
            console.print(f"wrote {path}")
        if points is not None:
            path = export_point_cloud(scene, out / f"points.{points}", format=points)
            console.print(f"wrote {path}")

    _run(body)
