"""``worldstereo trajectory make | show | convert | plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import Output, UserError, check_output, command

trajectory_app = typer.Typer(help="Make, plot and convert camera trajectories.", no_args_is_help=True)

MAKE_PRESETS = ("orbit", "up", "down", "left", "right", "dolly", "truck", "pan", "zoom", "plan")


def _intrinsics(width: int, height: int, fov: float, intrinsics: Optional[Path]):
    from ..camera import intrinsics_from_fov

    if intrinsics is None:
        return intrinsics_from_fov(fov, width, height)
    import numpy as np

    from .. import jsonio

    how = 'JSON {"K": [[...], [...], [...]]} or a text matrix of 3 lines'
    try:
        if intrinsics.suffix == ".json":
            data = jsonio.load(intrinsics, "intrinsics")
            if not isinstance(data, dict) or "K" not in data:
                raise UserError(f"{intrinsics}: K: missing; write {how}")
            K = np.asarray(data["K"])
        else:
            K = np.loadtxt(intrinsics, ndmin=2)
    except jsonio.JSONInputError as exc:
        raise UserError(str(exc)) from None
    except (OSError, ValueError) as exc:  # ragged lists, non-numbers, bytes that are not text
        raise UserError(f"{intrinsics}: K: cannot read a 3x3 matrix ({str(exc)[:80]}); write {how}") from None
    if K.shape != (3, 3) or K.dtype.kind not in "iuf" or not np.isfinite(K).all():
        raise UserError(f"{intrinsics}: K: must be a 3x3 matrix of finite numbers, got shape {K.shape}; write {how}")
    return K.astype(np.float64)


def _describe(traj, path: Path) -> dict:
    return {"file": str(path), "name": traj.name, "kind": traj.kind, "frames": len(traj),
            "width": traj.width, "height": traj.height, "fps": traj.fps}


@command(trajectory_app, "make")
def trajectory_make(
    out: Output,
    preset: str = typer.Argument(..., help=f"One of: {', '.join(MAKE_PRESETS)} ('plan' = the paper's 4-trajectory plan)."),
    output_path: Path = typer.Option(..., "-o", "--output", help="Output .json (a folder for 'plan')."),
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
    from ..camera import default_plan, save_trajectory
    from ..camera import preset as make_preset

    if preset not in MAKE_PRESETS:
        raise UserError(f"preset {preset!r} is not one of {', '.join(MAKE_PRESETS)}")
    check_output(output_path, "folder" if preset == "plan" else "file")
    K = _intrinsics(width, height, fov, intrinsics)
    if preset == "plan":
        output_path.mkdir(parents=True, exist_ok=True)
        trajs = default_plan(depth, K, width, height, frames, fps)
        paths = [output_path / f"{traj.name}.json" for traj in trajs]
    else:
        trajs = [make_preset(preset, depth, K, width, height, frames, fps, degrees=degrees, radius_ratio=radius_ratio,
                             distance=distance, dx=dx, dy=dy, yaw=yaw, pitch=pitch, factor=factor)]
        paths = [output_path]
    for traj, path in zip(trajs, paths):
        save_trajectory(traj, path)
        out.say(f"wrote {path} ({len(traj)} frames, {traj.kind})")
    out.result({"trajectories": [_describe(t, p) for t, p in zip(trajs, paths)]})


@command(trajectory_app, "show")
def trajectory_show(
    out: Output,
    files: list[Path] = typer.Argument(..., help="Trajectory .json files (schema v1)."),
    output_path: Path = typer.Option(..., "-o", "--output", help="Output PNG."),
) -> None:
    """Plot top and side views of the camera frustums of one or more trajectories; check their smoothness."""
    from ..camera import check_smoothness, load_trajectory
    from ..camera.plot import plot_trajectories

    check_output(output_path, "file")
    trajs = [load_trajectory(f) for f in files]
    rough = [[int(s) for s in check_smoothness(t).rough_steps] for t in trajs]
    plot_trajectories(trajs, output_path)
    out.say(f"wrote {output_path}")
    out.result({"plot": str(output_path),
                "trajectories": [{**_describe(t, f), "rough_steps": r} for t, f, r in zip(trajs, files, rough)]})


@command(trajectory_app, "convert")
def trajectory_convert(
    out: Output,
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
    from ..camera.formats import read_trajectory, write_trajectory

    check_output(dst, "folder" if to_fmt == "colmap" else "file", "DST")
    traj = read_trajectory(src, from_fmt, width=width, height=height, fps=fps)
    write_trajectory(traj, dst, to_fmt, depth=depth)
    out.say(f"wrote {dst} ({len(traj)} frames, {from_fmt} -> {to_fmt})")
    out.result({"from": from_fmt, "to": to_fmt, **_describe(traj, dst)})


@command(trajectory_app, "plan")
def trajectory_plan(
    out: Output,
    input: str = typer.Argument(..., help="An image, a panorama (--panorama), a sample folder or a bundled sample name."),
    output_path: Path = typer.Option(..., "-o", "--output", help="Output PNG (top and side views)."),
    save: Optional[Path] = typer.Option(None, "--save", help="Also write the chosen trajectory (.json, schema v1)."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map of the input: .npy, 16-bit .png (mm) or .exr."),
    fov: Optional[float] = typer.Option(None, "--fov", help="Horizontal field of view of the input in degrees."),
    panorama: bool = typer.Option(False, "--panorama", help="The input is a 2:1 equirectangular panorama."),
    frames: int = typer.Option(21, "--frames", help="Frames of the planned trajectory."),
    max_side: int = typer.Option(256, "--max-side", help="Longest side of the working size."),
) -> None:
    """Choose the first trajectory of `generate --plan auto` (no generation): print the candidates and
    plot known free / unknown space with the refused, admitted and chosen paths."""
    from ..camera import save_trajectory
    from ..pipelines import limits
    from ..pipelines.api import WorldStereo
    from ..pipelines.plan_plot import plot_plan
    from ..pipelines.planner import AutoPlanner

    check_output(output_path, "file")
    if save is not None:
        check_output(save, "file", "--save")
    ws = WorldStereo.from_pretrained("warp", max_side=max_side)
    state = ws.prepare(input, depth, fov=fov, panorama=panorama or None).state
    limits.check_frames(frames, state.height, state.width)
    planner = AutoPlanner(state, frames)
    traj = planner.next()
    step = planner.steps[0]
    plot_plan(planner.grid, step, traj, output_path)
    if traj is not None and save is not None:
        save_trajectory(traj, save)
    ranked = sorted(step["candidates"], key=lambda c: (not c["accepted"], -c.get("gain", 0.0)))
    for c in ranked[:10]:
        out.say(f"{c['name']:<20} " + (f"gain {c['gain']:.3f} support {c['support']:.2f}" if c["accepted"]
                                        else f"refused: {c['reason']}"))
    out.say(f"chosen: {step['chosen']}" if traj is not None else f"no trajectory: {step['stop']}")
    out.say(f"wrote {output_path}")
    out.result({"plot": str(output_path), "chosen": step["chosen"], "stop": step.get("stop"), "grid": step["grid"],
                "saved": str(save) if traj is not None and save is not None else None,
                "candidates": [{k: v for k, v in c.items() if k != "path"} for c in step["candidates"]]})


def register(root: typer.Typer) -> None:
    """Add the ``trajectory`` group to the root command (called once, from ``cli/__init__``)."""
    root.add_typer(trajectory_app, name="trajectory")
