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
PRESETS = ("orbit", "up", "down", "left", "right", "dolly", "truck", "pan", "zoom", "plan")
_DEFAULT_DEGREES = {"up": 45.0, "down": 45.0, "left": 90.0, "right": 90.0}


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
    preset: str = typer.Argument(..., help=f"One of: {', '.join(PRESETS)} ('plan' = the paper's 4-trajectory plan)."),
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
    distance: float = typer.Option(0.5, help="dolly: forward distance (negative = backward)."),
    dx: float = typer.Option(0.3, help="truck: sideways distance (+ = right)."),
    dy: float = typer.Option(0.0, help="truck: vertical distance (+ = down)."),
    yaw: float = typer.Option(30.0, help="pan: degrees to turn right."),
    pitch: float = typer.Option(0.0, help="pan: degrees to tilt up."),
    factor: float = typer.Option(1.5, help="zoom: final focal length / initial."),
) -> None:
    """Make a trajectory from a preset and write it as a schema-v1 JSON file."""

    def body() -> None:
        from .camera import default_plan, dolly, orbit, pan, rotate, save_trajectory, truck, zoom

        if preset not in PRESETS:
            raise UserError(f"preset {preset!r} is not one of {', '.join(PRESETS)}")
        K = _intrinsics(width, height, fov, intrinsics)
        common = dict(K=K, width=width, height=height, n_frames=frames, fps=fps)
        if preset == "plan":
            output.mkdir(parents=True, exist_ok=True)
            for traj in default_plan(depth, K, width, height, frames, fps):
                save_trajectory(traj, output / f"{traj.name}.json")
                console.print(f"wrote {output / (traj.name + '.json')} ({len(traj)} frames)")
            return
        if preset == "orbit":
            traj = orbit(depth, radius_ratio, **common)
        elif preset in _DEFAULT_DEGREES:
            traj = rotate(preset, degrees if degrees is not None else _DEFAULT_DEGREES[preset], depth, **common)
        elif preset == "dolly":
            traj = dolly(distance, **common)
        elif preset == "truck":
            traj = truck(dx, dy, **common)
        elif preset == "pan":
            traj = pan(yaw, pitch, **common)
        else:
            traj = zoom(factor, **common)
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
# worldstereo demo
# ---------------------------------------------------------------------------------------------
@app.command("demo")
def demo(output: Path = typer.Option(Path("out/demo"), "-o", "--output", help="Output folder.")) -> None:
    """Run the main job on the bundled default.

    Until the generation pipeline lands this only plans: it writes the paper's default
    four-trajectory plan and its plot, and says so.
    """

    def body() -> None:
        from .camera import default_plan, intrinsics_from_fov, save_trajectory
        from .camera.plot import plot_trajectories

        output.mkdir(parents=True, exist_ok=True)
        K = intrinsics_from_fov(60.0, 832, 480)
        plan = default_plan(2.0, K, 832, 480, 81)
        for traj in plan:
            save_trajectory(traj, output / f"{traj.name}.json")
        plot_trajectories(plan, output / "plan.png")
        console.print(
            "[yellow]note:[/] the generation pipeline is not built yet; this demo only plans the paper's "
            f"default trajectories.\nwrote {len(plan)} trajectories and {output / 'plan.png'}"
        )

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
