"""``worldstereo generate`` and ``worldstereo demo``: the multi-trajectory pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import UserError, _run, app, console


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
        from ..pipelines.api import WorldStereo

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
        from ..pipelines.api import WorldStereo

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
            from ..reconstruction import reconstruct_scene

            try:
                scene = reconstruct_scene(output, None, recon, method="mvs", resolution=256)
                q = scene.metadata["quality_metrics"]
                console.print("reconstruction: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))
            except ValueError as exc:
                console.print(f"[yellow]reconstruction failed:[/] {str(exc).splitlines()[0]}")
        from ..viewer import write_viewer

        page = write_viewer(output)
        console.print(f"look at: {page} (or `worldstereo view {output}`), videos in {output}/trajectories/*/video.mp4, "
                      f"the record in {output}/run.json", highlight=False)

    _run(body)
