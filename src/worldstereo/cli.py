"""The ``worldstereo`` command: one subcommand per user task.

Library errors surface as one line on stderr with exit code 2 (see ``_run``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="worldstereo",
    help="Camera-guided, 3D-consistent video generation and scene reconstruction (WorldStereo).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
trajectory_app = typer.Typer(help="Make, plot and convert camera trajectories.", no_args_is_help=True)
app.add_typer(trajectory_app, name="trajectory")

console = Console(stderr=True)


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


def _run(fn: Callable[[], None]) -> None:
    """Run a command body; turn expected failures into one clear line and exit code 2."""
    try:
        fn()
    except (UserError, ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show warnings and errors."),
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    # Our own messages at the chosen level; third-party libraries only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("worldstereo").setLevel(level)


# ---------------------------------------------------------------------------------------------
# worldstereo trajectory …
# ---------------------------------------------------------------------------------------------
MAKE_PRESETS = ("orbit", "up", "down", "left", "right", "dolly", "truck", "pan", "zoom", "plan")


def _intrinsics(width: int, height: int, fov: float, intrinsics: Optional[Path]):
    from .camera import intrinsics_from_fov

    if intrinsics is None:
        return intrinsics_from_fov(fov, width, height)
    import json

    import numpy as np

    try:
        K = np.asarray(json.loads(intrinsics.read_text())["K"] if intrinsics.suffix == ".json" else np.loadtxt(intrinsics))
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{intrinsics}: cannot read a 3x3 K (JSON {{\"K\": [[...]]}} or a text matrix): {exc}") from None
    if K.shape != (3, 3):
        raise UserError(f"{intrinsics}: K must be 3x3, got shape {K.shape}")
    return K


@trajectory_app.command("make")
def trajectory_make(
    preset: str = typer.Argument(..., help=f"One of: {', '.join(MAKE_PRESETS)} ('plan' = the paper's 4-trajectory plan)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .json (a folder for 'plan')."),
    width: int = typer.Option(832, help="Image width in pixels."),
    height: int = typer.Option(480, help="Image height in pixels."),
    fov: float = typer.Option(60.0, help="Horizontal field of view in degrees (ignored with --intrinsics)."),
    intrinsics: Optional[Path] = typer.Option(None, help="3x3 K in pixels: JSON {\"K\": ...} or a text matrix."),
    frames: int = typer.Option(81, help="Number of frames."),
    fps: float = typer.Option(16.0, help="Frame rate written to the file."),
    depth: float = typer.Option(1.0, help="Scene median depth: rotation pivot distance and orbit scale."),
    degrees: Optional[float] = typer.Option(None, help="Rotation angle for up/down/left/right (default 45 up/down, 90 left/right)."),
    radius_ratio: float = typer.Option(0.3, help="Orbit radius as a fraction of --depth."),
    distance: Optional[float] = typer.Option(None, help="dolly: forward distance (default 0.3 x --depth; negative = backward)."),
    dx: Optional[float] = typer.Option(None, help="truck: sideways distance (default 0.3 x --depth; + = right)."),
    dy: float = typer.Option(0.0, help="truck: vertical distance (+ = down)."),
    yaw: float = typer.Option(30.0, help="pan: degrees to turn right."),
    pitch: float = typer.Option(0.0, help="pan: degrees to tilt up."),
    factor: float = typer.Option(1.5, help="zoom: final focal length / initial."),
) -> None:
    """Make a trajectory from a preset and write it as a schema-v1 JSON file."""

    def body() -> None:
        from .camera import default_plan, preset as make_preset, save_trajectory

        if preset not in MAKE_PRESETS:
            raise UserError(f"preset {preset!r} is not one of {', '.join(MAKE_PRESETS)}")
        K = _intrinsics(width, height, fov, intrinsics)
        if preset == "plan":
            output.mkdir(parents=True, exist_ok=True)
            for traj in default_plan(depth, K, width, height, frames, fps):
                save_trajectory(traj, output / f"{traj.name}.json")
                console.print(f"wrote {output / (traj.name + '.json')} ({len(traj)} frames)")
            return
        traj = make_preset(preset, depth, K, width, height, frames, fps, degrees=degrees, radius_ratio=radius_ratio,
                           distance=distance, dx=dx, dy=dy, yaw=yaw, pitch=pitch, factor=factor)
        save_trajectory(traj, output)
        console.print(f"wrote {output} ({len(traj)} frames, {traj.kind})")

    _run(body)


@trajectory_app.command("show")
def trajectory_show(
    files: list[Path] = typer.Argument(..., help="Trajectory .json files (schema v1)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output PNG."),
) -> None:
    """Plot top and side views of the camera frustums of one or more trajectories."""

    def body() -> None:
        from .camera import check_smoothness, load_trajectory
        from .camera.plot import plot_trajectories

        trajs = [load_trajectory(f) for f in files]
        for t in trajs:
            check_smoothness(t)
        plot_trajectories(trajs, output)
        console.print(f"wrote {output}")

    _run(body)


@trajectory_app.command("convert")
def trajectory_convert(
    src: Path = typer.Argument(..., help="Input file (a folder for colmap)."),
    dst: Path = typer.Argument(..., help="Output file (a folder for colmap)."),
    from_fmt: str = typer.Option("worldstereo", "--from", help="worldstereo | official | nerfstudio | colmap | re10k"),
    to_fmt: str = typer.Option("worldstereo", "--to", help="worldstereo | official | nerfstudio | colmap | re10k"),
    width: Optional[int] = typer.Option(None, help="Image width (re10k input, or official input lacking it)."),
    height: Optional[int] = typer.Option(None, help="Image height (re10k input, or official input lacking it)."),
    depth: Optional[float] = typer.Option(None, help="official output: the scene's median depth (default 1)."),
    fps: Optional[float] = typer.Option(None, help="Frame rate to record (default: from the input)."),
) -> None:
    """Convert a camera trajectory between formats."""

    def body() -> None:
        from .camera.formats import read_trajectory, write_trajectory

        traj = read_trajectory(src, from_fmt, width=width, height=height, fps=fps)
        write_trajectory(traj, dst, to_fmt, depth=depth)
        console.print(f"wrote {dst} ({len(traj)} frames, {from_fmt} -> {to_fmt})")

    _run(body)


# ---------------------------------------------------------------------------------------------
# worldstereo generate / demo
# ---------------------------------------------------------------------------------------------
def _progress_runner(quiet: bool):
    """A rich progress display (trajectory i/n, generator steps, ETA) and its callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, disable=quiet, transient=False)
    tasks: dict[str, int] = {}

    def callback(kind: str, name: str, i: int, n: int, what: str) -> None:
        if kind == "trajectory":
            if "all" not in tasks:
                tasks["all"] = progress.add_task("trajectories", total=n)
            progress.update(tasks["all"], completed=i, description=f"trajectory {i + 1}/{n}: {name}")
            for key in [k for k in tasks if k != "all"]:
                progress.remove_task(tasks.pop(key))
        else:
            if name not in tasks:
                tasks[name] = progress.add_task(f"  {name}: {what}", total=n)
            progress.update(tasks[name], completed=i, total=n)

    return progress, callback


def _summary(run, quiet: bool, as_json: bool) -> None:
    import json as _json

    from rich.table import Table

    rows = []
    for name in run.names:
        e = run.record["trajectories"].get(name, {})
        rows.append({"trajectory": name, "status": e.get("status"), "frames": e.get("frames"),
                     "seconds": e.get("seconds"), "cache_points": e.get("cache_points"),
                     "psnr": e.get("psnr"), "folder": str(run.trajectory_dir(name))})
    if as_json:
        typer.echo(_json.dumps({"run": str(run.root), "trajectories": rows,
                                "warnings": run.record.get("warnings", [])}, indent=2))
        return
    if quiet:
        return
    table = Table(title=f"run {run.root}")
    for col in ("trajectory", "status", "frames", "seconds", "cache points", "PSNR vs truth", "files"):
        table.add_column(col)
    for r in rows:
        psnr = "" if r["psnr"] is None else f"{r['psnr']:.2f} dB"
        table.add_row(r["trajectory"], str(r["status"]), str(r["frames"]), f"{r['seconds'] or 0:.1f}",
                      str(r["cache_points"]), psnr, r["folder"])
    console.print(table)
    for w in run.record.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w}")


@app.command("generate")
def generate(
    input: str = typer.Argument(..., help="An image, a panorama (--panorama), a sample folder or a bundled sample name."),
    output: Path = typer.Option(..., "-o", "--output", help="Run directory (resumable)."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map of the input: .npy, 16-bit .png (mm) or .exr."),
    depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="Local transformers depth model folder."),
    fov: Optional[float] = typer.Option(None, "--fov", help="Horizontal field of view of the input in degrees."),
    intrinsics: Optional[Path] = typer.Option(None, "--intrinsics", help='K of the input: JSON {"K": ...} or text 3x3.'),
    panorama: bool = typer.Option(False, "--panorama", help="The input is a 2:1 equirectangular panorama."),
    trajectory: Optional[list[str]] = typer.Option(None, "--trajectory", help="A preset name or a trajectory .json; repeat for several."),
    plan: str = typer.Option("default", "--plan", help="'default' = orbit, up, right, left (used when no --trajectory)."),
    generator: str = typer.Option("tiny", "--generator", help="tiny | wan | warp"),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Model directory (wan, or other tiny weights)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: cuda if available)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 | bfloat16 | float16"),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per trajectory (default: the generator's)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Denoising steps (default: the model's)."),
    seed: int = typer.Option(0, "--seed"),
    max_side: int = typer.Option(512, "--max-side", help="Longest side of the working size (warp generator)."),
    no_ggm: bool = typer.Option(False, "--no-ggm", help="Turn the global-geometric memory off (ablation)."),
    no_ssm: bool = typer.Option(False, "--no-ssm", help="Turn the spatial-stereo memory off (ablation)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT (same inputs and settings)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Generate camera-controlled videos of one scene along several trajectories (both memories on)."""

    def body() -> None:
        from .pipelines.api import WorldStereo

        if plan != "default":
            raise UserError(f"--plan {plan!r}: only 'default' exists; give --trajectory for anything else")
        if fov is not None and intrinsics is not None:
            raise UserError("give either --fov or --intrinsics, not both")
        if generator == "wan" and model_dir is None:
            raise UserError("--generator wan needs --model-dir DIR (a local diffusers-layout Wan2.1-I2V directory)")
        name = "warp" if generator == "warp" else str(model_dir) if model_dir else "worldstereo-tiny"
        ws = WorldStereo.from_pretrained(name, device=device, dtype=dtype, generator=generator,
                                         depth_model=depth_model, max_side=max_side)
        if ws.generator.untrained:
            console.print(f"[yellow]note:[/] the {ws.generator.name} generator has untrained (random) weights: "
                          "the videos only exercise the pipeline")
        progress, callback = _progress_runner(quiet or as_json)
        with progress:
            run = ws.generate_scene(input, trajectories=trajectory or None, output_dir=output, resume=resume,
                                    use_ggm=not no_ggm, use_ssm=not no_ssm, depth=depth, K=intrinsics, fov=fov,
                                    panorama=panorama or None, n_frames=frames, steps=steps, seed=seed,
                                    progress=callback)
        _summary(run, quiet, as_json)

    _run(body)


@app.command("demo")
def demo(
    output: Path = typer.Option(Path("out/demo"), "-o", "--output", help="Output folder (resumed if it holds this demo)."),
    generator: str = typer.Option("tiny", "--generator", help="tiny (the default model) | warp"),
    sample: str = typer.Option("object", "--sample", help="Bundled sample to start from."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """The main job on the bundled default: a sample scene, the default plan (orbit, up, right, left)
    with both memories, then the viewer page. Prints where to look."""

    def body() -> None:
        from .pipelines.api import WorldStereo

        ws = WorldStereo.from_pretrained("warp" if generator == "warp" else "worldstereo-tiny", max_side=320)
        if ws.generator.untrained:
            console.print(f"[yellow]note:[/] the {ws.generator.name} generator has untrained (random) weights until "
                          "the trained worldstereo-tiny weights ship; its videos only exercise the pipeline "
                          "(try --generator warp for the no-learning baseline)")
        progress, callback = _progress_runner(quiet)
        with progress:
            run = ws.generate_scene(sample, output_dir=output, resume=True, progress=callback)
        _summary(run, quiet, False)
        recon = output / "reconstruction"
        if ws.generator.untrained:
            console.print("[yellow]reconstruction skipped:[/] frames of an untrained generator carry no geometry "
                          "(`worldstereo demo --generator warp` reconstructs the baseline's frames)")
        elif not (recon / "scene.npz").is_file():
            from .reconstruction import reconstruct_scene

            try:
                scene = reconstruct_scene(output, None, recon, method="mvs", resolution=256)
                q = scene.metadata["quality_metrics"]
                console.print("reconstruction: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))
            except ValueError as exc:
                console.print(f"[yellow]reconstruction failed:[/] {str(exc).splitlines()[0]}")
        from .viewer import write_viewer

        page = write_viewer(output)
        console.print(f"look at: {page} (or `worldstereo view {output}`), videos in {output}/trajectories/*/video.mp4, "
                      f"the record in {output}/run.json", highlight=False)

    _run(body)


# ---------------------------------------------------------------------------------------------
# worldstereo reconstruct / export
# ---------------------------------------------------------------------------------------------
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

        from .reconstruction import ReconstructionConfig, reconstruct_scene

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


# --- sample: bundled sample inputs (worldstereo.data.samples) --------------------------------
sample_app = typer.Typer(help="List and export the bundled sample inputs.", no_args_is_help=True)
app.add_typer(sample_app, name="sample")


@sample_app.command("list")
def sample_list() -> None:
    """List the bundled samples (name, projection, size, what they show)."""
    from rich.table import Table

    from .data.samples import list_samples

    table = Table("name", "projection", "size", "scene", "description")
    for s in list_samples():
        table.add_row(s["name"], s["projection"], f"{s['width']}x{s['height']}", f"{s['scene']} seed {s['seed']}",
                      s["description"])
    Console().print(table)


@sample_app.command("export")
def sample_export(
    name: str = typer.Argument(..., help="Sample name (see `worldstereo sample list`)."),
    out_dir: Path = typer.Argument(..., help="Folder to write image.png, depth.png, meta.json (and K.json) into."),
) -> None:
    """Copy a bundled sample's files into a folder."""

    def body() -> None:
        from .data.samples import export_sample

        for path in export_sample(name, out_dir):
            console.print(f"wrote {path}", highlight=False)

    _run(body)
# --- end sample ------------------------------------------------------------------------------



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
        from .reconstruction import MESH_FORMATS, POINT_FORMATS, ReconstructedScene, export_mesh, export_point_cloud

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


# --- view, report, doctor: looking at a run and at the environment --------------------------
@app.command("view")
def view(
    run_dir: Path = typer.Argument(..., help="A run directory (holds run.json)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port on 127.0.0.1 (0 = any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rewrite viewer.html even if it exists."),
) -> None:
    """Serve a run's viewer.html on 127.0.0.1 (writing it if missing) until Ctrl-C."""
    state = {}

    def body() -> None:
        from .viewer import RunServer, write_viewer

        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: not a folder; pass a worldstereo run directory")
        if rebuild or not (run_dir / "viewer.html").is_file():
            console.print(f"wrote {write_viewer(run_dir)}", highlight=False)
        state["server"] = RunServer(run_dir, port).start()

    _run(body)
    server = state["server"]
    url = server.url + "viewer.html"
    typer.echo(url)
    console.print("serving; press Ctrl-C to stop", highlight=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command("report")
def report(run_dir: Path = typer.Argument(..., help="A run directory (holds run.json).")) -> None:
    """Write report.md and report.html (plan, frames, references, cache growth, timings, warnings) into a run."""

    def body() -> None:
        from .viewer.report import write_report

        md = write_report(run_dir)
        console.print(f"wrote {md} and {md.with_suffix('.html')}", highlight=False)

    _run(body)


@app.command("doctor")
def doctor(json_output: bool = typer.Option(False, "--json", help="Print the findings as JSON on stdout.")) -> None:
    """Show the environment (torch, device, Open3D, FBX/USD writers, ffmpeg, chromium, weights) and what each feature lacks."""
    import json

    from rich.table import Table

    from .doctor import diagnose

    report = diagnose()
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("check", "", "detail", "how to get it")
    for c in report["checks"]:
        table.add_row(c["name"], "[green]ok[/]" if c["ok"] else "[red]missing[/]", c["detail"], c["fix"])
    out = Console()
    out.print(table)
    for feature, state in report["features"].items():
        status = "[green]ready[/]" if state["ready"] else f"[red]missing:[/] {', '.join(state['missing'])}"
        out.print(f"{feature}: {status}", highlight=False)
# --- end view, report, doctor ----------------------------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
