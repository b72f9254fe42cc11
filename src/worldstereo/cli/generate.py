"""``worldstereo generate`` and ``worldstereo demo``: the multi-trajectory pipeline."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Optional

import typer

from .app import Output, UserError, command, console


def _plan_config(plan: str, budget: Optional[int], min_gain: Optional[float]):
    """The planner's settings from ``--plan-budget`` / ``--plan-min-gain`` (None: the defaults)."""
    from ..pipelines import limits
    from ..pipelines.planner import PlanConfig

    if budget is None and min_gain is None:
        return None
    if plan != "auto":
        raise UserError("--plan-budget and --plan-min-gain apply to --plan auto only; add --plan auto or drop them")
    kw: dict = {}
    if budget is not None:
        kw["budget"] = limits.check_range(budget, "--plan-budget", 1, limits.MAX_PLAN_BUDGET)
    if min_gain is not None:
        if not math.isfinite(min_gain) or min_gain < 0:
            raise UserError(f"--plan-min-gain: {min_gain} is not a number >= 0; give e.g. 0.05 (0 uses the whole budget)")
        kw["min_gain"] = float(min_gain)
    return PlanConfig(**kw)


def _check_options(max_side: int, frames: Optional[int], steps: Optional[int] = None, seed: int = 0,
                   trajectories: Optional[list[str]] = None, device: Optional[str] = None) -> None:
    """Everything about the options that can be checked before a model is loaded or a folder created."""
    from ..camera import load_trajectory
    from ..devices import resolve_device
    from ..pipelines import limits
    from ..pipelines.inputs import trajectory_source
    from ..safepath import check_name

    limits.check_max_side(max_side)
    if frames is not None:
        limits.check_range(frames, "--frames", limits.MIN_FRAMES, limits.MAX_FRAMES)
    limits.check_steps(steps)
    limits.check_seed(seed)
    if device is not None:
        resolve_device(device)
    names = []
    for t in trajectories or []:
        kind = trajectory_source(t)
        names.append(t if kind == "preset" else check_name(load_trajectory(t).name, "name", t))
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UserError(f"trajectory name {dup!r} is given twice (-t {' -t '.join(trajectories or [])}); "
                        "give each trajectory its own name")


def _check_inputs(input: str, depth: Optional[Path], depth_model: Optional[str], fov: Optional[float],
                  intrinsics: Optional[Path], panorama: bool) -> None:
    """The input files, read once here so that a bad one is reported before the model loads."""
    from ..pipelines.inputs import sample_folder
    from ..pipelines.api import DEPTH_MODEL_ENV
    from ..pipelines.depth import depth_backend
    from ..pipelines.inputs import (
        check_panorama,
        load_depth,
        load_image,
        load_intrinsics,
        resolve_intrinsics,
    )

    if sample_folder(input) is not None:
        return
    img = load_image(input)
    if panorama:
        check_panorama(img, input)
    if depth is not None:
        load_depth(depth, img.shape[:2])
    elif depth_model is None and not os.environ.get(DEPTH_MODEL_ENV):
        depth_backend(None, None, None, source=input)  # raises the no-depth error naming the three ways
    if intrinsics is not None:
        load_intrinsics(intrinsics, img.shape[:2])
    if fov is not None:
        resolve_intrinsics(img.shape[:2], fov)


def _summary(run) -> dict:
    rows = []
    for name in run.names:
        e = run.record["trajectories"].get(name, {})
        rows.append({"trajectory": name, "status": e.get("status"), "frames": e.get("frames"),
                     "seconds": e.get("seconds"), "cache_points": e.get("cache_points"),
                     "psnr": e.get("psnr"), "folder": str(run.trajectory_dir(name))})
    return {"run": str(run.root), "trajectories": rows, "warnings": run.record.get("warnings", [])}


def _show(out: Output, summary: dict) -> None:
    def table() -> None:
        from rich.table import Table

        t = Table(title=f"run {summary['run']}")
        for col in ("trajectory", "status", "frames", "seconds", "cache points", "PSNR vs truth", "files"):
            t.add_column(col)
        for r in summary["trajectories"]:
            psnr = "" if r["psnr"] is None else f"{r['psnr']:.2f} dB"
            t.add_row(r["trajectory"], str(r["status"]), str(r["frames"]), f"{r['seconds'] or 0:.1f}",
                      str(r["cache_points"]), psnr, r["folder"])
        console.print(t)
        for w in summary["warnings"]:
            out.warn(w)

    out.result(summary, table)


def _ws2_estimate(model_dir: str, variant: str, base_model: Optional[str], size: str, dtype: Optional[str]) -> dict:
    """The ws2 memory estimate from the variant's config.json alone (nothing is loaded)."""
    import torch

    from ..models.ws2 import Ws2Config
    from ..models.ws2.memory import estimate
    from ..models.ws2.weights import variant_folder

    try:
        h, w = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {size!r}: expected HxW, e.g. 480x832") from None
    if h <= 0 or w <= 0 or h % 16 or w % 16:
        raise UserError(f"--size {size}: height and width must be positive multiples of 16")
    folder = variant_folder(Path(model_dir), variant)
    wan = Path(base_model) / "transformer" / "config.json" if base_model else None
    cfg = Ws2Config.from_files(folder / "config.json", variant, wan if wan and wan.is_file() else None)
    half = torch.float32 if dtype in ("float32", "fp32") else torch.bfloat16
    est = estimate(cfg, h, w, cfg.nframe, dtype=half)
    return {"variant": variant, "size": [h, w], "keyframes": cfg.nframe, "dtype": str(half).split(".")[-1],
            **est.as_dict()}


def generate(
    out: Output,
    input: str = typer.Argument(..., help="An image, a panorama (--panorama), a sample folder or a bundled sample name."),
    output_dir: Path = typer.Option(..., "-o", "--output", help="Run directory (resumable)."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map of the input: .npy, 16-bit .png (mm) or .exr."),
    depth_model: Optional[str] = typer.Option(None, "--depth-model", help="transformers depth model: a local folder, or a hub id (downloaded unless HF_HUB_OFFLINE=1)."),
    fov: Optional[float] = typer.Option(None, "--fov", help="Horizontal field of view of the input in degrees."),
    intrinsics: Optional[Path] = typer.Option(None, "--intrinsics", help='K of the input: JSON {"K": ...} or text 3x3.'),
    panorama: bool = typer.Option(False, "--panorama", help="The input is a 2:1 equirectangular panorama."),
    trajectory: Optional[list[str]] = typer.Option(None, "--trajectory", "-t", help="A preset name or a trajectory .json; repeat for several."),
    plan: str = typer.Option("default", "--plan", help="'default' = orbit, up, right, left (used when no --trajectory); "
                             "'auto' = next best trajectory in known free space, re-planned after each (docs/planning.md)."),
    plan_budget: Optional[int] = typer.Option(None, "--plan-budget", help="--plan auto: at most this many trajectories (default 4)."),
    plan_min_gain: Optional[float] = typer.Option(None, "--plan-min-gain", help="--plan auto: stop when the best candidate's gain is below this (default 0.05; 0: use the whole budget)."),
    generator: str = typer.Option("tiny", "--generator", help="tiny | wan | ws2 | warp"),
    model_dir: Optional[str] = typer.Option(None, "--model-dir", help="Model directory (wan, ws2 release folder or hub id, or other tiny weights)."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="ws2: diffusers-layout Wan2.1-I2V-480P folder (or hub id)."),
    variant: Optional[str] = typer.Option(None, "--variant", help="ws2: memory-dmd (default) | memory | camera."),
    prompt: str = typer.Option("", "--prompt", help="ws2: text prompt of the scene."),
    allow_download: bool = typer.Option(False, "--allow-download", help="ws2: fetch hub ids with huggingface_hub (HF_HUB_OFFLINE still wins)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="ws2: print the accelerator-memory estimate for --size and stop."),
    size: str = typer.Option("480x832", "--size", help="ws2 --dry-run: HxW of the estimate."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: cuda if available)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 | bfloat16 | float16"),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per trajectory (default: the generator's)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Denoising steps (default: the model's)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the generator."),
    max_side: int = typer.Option(512, "--max-side", help="Longest side of the working size (warp generator)."),
    no_ggm: bool = typer.Option(False, "--no-ggm", help="Turn the global-geometric memory off (ablation)."),
    no_ssm: bool = typer.Option(False, "--no-ssm", help="Turn the spatial-stereo memory off (ablation)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT (same inputs and settings)."),
) -> None:
    """Generate camera-controlled videos of one scene along several trajectories (both memories on)."""
    from ..pipelines.api import WorldStereo

    if plan not in ("default", "auto"):
        raise UserError(f"--plan {plan!r} is not 'default' or 'auto'; give --trajectory for anything else")
    if plan == "auto" and trajectory:
        raise UserError("--plan auto chooses its own trajectories; drop --trajectory or use --plan default")
    plan_config = _plan_config(plan, plan_budget, plan_min_gain)
    if dry_run:
        if generator != "ws2":
            raise UserError("--dry-run estimates the ws2 generator only: add --generator ws2")
        if model_dir is None:
            raise UserError("--dry-run needs --model-dir DIR (the WorldStereo 2.0 release folder) for its config")
        est = _ws2_estimate(model_dir, variant or "memory-dmd", base_model, size, dtype)
        out.result(est, lambda: out.say(
            f"ws2 {est['variant']} at {size}, {est['keyframes']} keyframes, {est['dtype']}: about "
            f"{est['peak_gib']:.1f} GiB peak ({est['weights_gib']:.1f} weights + {est['activations_gib']:.1f} "
            "activations + VAE); text encoder on the CPU, CLIP visits the GPU once"))
        return  # an estimate needs no input image and writes nothing
    _check_options(max_side, frames, steps, seed, trajectory, device)
    _check_inputs(input, depth, depth_model, fov, intrinsics, panorama)
    from ..pipelines.rundir import RunDirectory

    RunDirectory.precheck(output_dir, resume)
    if fov is not None and intrinsics is not None:
        raise UserError("give either --fov or --intrinsics, not both")
    from ..pipelines.generators import GENERATORS

    if generator not in GENERATORS:
        raise UserError(f"--generator {generator!r} is not one of {', '.join(GENERATORS)}")
    if generator == "wan" and model_dir is None:
        raise UserError("--generator wan needs --model-dir DIR (a local diffusers-layout Wan2.1-I2V directory)")
    if generator == "ws2" and model_dir is None:
        raise UserError("--generator ws2 needs --model-dir DIR (the WorldStereo 2.0 release folder, "
                        "worldstereo-memory-dmd/ inside) and --base-model WAN_DIR")
    if generator != "ws2" and (variant or base_model or allow_download or prompt):
        raise UserError("--variant, --base-model, --prompt and --allow-download apply to --generator ws2 only")
    name = "warp" if generator == "warp" else str(model_dir) if model_dir else "worldstereo-tiny"
    extra = dict(variant=variant, base_model=base_model, allow_download=allow_download,
                 prompt=prompt) if generator == "ws2" else {}
    processes, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if processes > 1 and generator != "ws2":
        raise UserError(f"{processes} processes (torchrun): only --generator ws2 splits its work across processes")
    ws = WorldStereo.from_pretrained(name, device=device, dtype=dtype, generator=generator,
                                     depth_model=depth_model, max_side=max_side, **extra)
    scratch = None
    if processes > 1:
        output_dir, scratch = _rank_output(output_dir, rank, resume)
        out = out if rank == 0 else Output(quiet=True)
    if ws.generator.untrained:
        out.say(f"[yellow]note:[/] the {ws.generator.name} generator has untrained (random) weights: "
                "the videos only exercise the pipeline")
    try:
        with out.progress() as display:
            run = ws.generate_scene(input, trajectories=trajectory or None, output_dir=output_dir, resume=resume,
                                    use_ggm=not no_ggm, use_ssm=not no_ssm, depth=depth, K=intrinsics, fov=fov,
                                    panorama=panorama or None, n_frames=frames, steps=steps, seed=seed,
                                    progress=display.scene_callback(), plan=plan, plan_config=plan_config)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if rank == 0:
        _show(out, _summary(run))


def _rank_output(output_dir: Path, rank: int, resume: bool) -> tuple[Path, Optional[Path]]:
    """Under torchrun every process runs the same scene loop (the transformer's collectives need every rank
    in every call); rank 0 writes the run, the others a scratch copy (of the run being resumed, so that
    they skip what rank 0 skips) that is deleted at the end. All ranks wait here until the copies exist."""
    import tempfile

    import torch.distributed as dist

    scratch = None
    if rank > 0:
        scratch = Path(tempfile.mkdtemp(prefix=f"worldstereo-rank{rank}-"))
        if resume and output_dir.is_dir():
            shutil.copytree(output_dir, scratch / "run")
        output_dir = scratch / "run"
    dist.barrier()
    return output_dir, scratch


def demo(
    out: Output,
    output_dir: Path = typer.Option(Path("out/demo"), "-o", "--output", help="Output folder (resumed if it holds this demo)."),
    generator: str = typer.Option("tiny", "--generator", help="tiny (the default model) | warp"),
    sample: str = typer.Option("object", "--sample", help="Bundled sample to start from."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: cuda if available)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per trajectory (default: the generator's)."),
    max_side: int = typer.Option(320, "--max-side", help="Longest side of the working size (warp generator)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the generator."),
) -> None:
    """The main job on the bundled default: a sample scene, the default plan (orbit, up, right, left)
    with both memories, a reconstruction, then the viewer page. Prints where to look."""
    from ..data.samples import SPECS
    from ..pipelines.api import WorldStereo
    from ..pipelines.rundir import RunDirectory

    if generator not in ("tiny", "warp"):
        raise UserError(f"--generator {generator!r}: the demo runs 'tiny' (the default model) or 'warp'; "
                        "use `worldstereo generate` for other generators")
    if sample not in SPECS:
        raise UserError(f"--sample {sample!r} is not a bundled sample; choose one of {', '.join(SPECS)}")
    _check_options(max_side, frames, seed=seed, device=device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("demo runs in one process; under torchrun use `generate --generator ws2`")
    RunDirectory.precheck(output_dir, resume=True)
    ws = WorldStereo.from_pretrained("warp" if generator == "warp" else "worldstereo-tiny", device=device,
                                     max_side=max_side)
    if ws.generator.untrained:
        out.say(f"[yellow]note:[/] the {ws.generator.name} generator has untrained (random) weights until "
                "the trained worldstereo-tiny weights ship; its videos only exercise the pipeline "
                "(try --generator warp for the no-learning baseline)")
    with out.progress() as display:
        run = ws.generate_scene(sample, output_dir=output_dir, resume=True, n_frames=frames, seed=seed,
                                progress=display.scene_callback())
    summary = _summary(run)
    if not out.json:
        _show(out, summary)
    recon = output_dir / "reconstruction"
    summary["reconstruction"] = None
    if ws.generator.untrained:
        out.say("[yellow]reconstruction skipped:[/] frames of an untrained generator carry no geometry "
                "(`worldstereo demo --generator warp` reconstructs the baseline's frames)")
    elif not (recon / "scene.npz").is_file():
        from ..reconstruction import reconstruct_scene

        try:
            with out.progress(transient=True) as display:
                scene = reconstruct_scene(output_dir, None, recon, method="mvs", resolution=min(256, max_side),
                                          progress=display.step_callback("reconstruction: "))
            q = scene.metadata["quality_metrics"]
            summary["reconstruction"] = {"folder": str(recon), "quality_metrics": q}
            out.say("reconstruction: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))
        except ValueError as exc:
            out.warn(f"reconstruction failed: {str(exc).splitlines()[0]}")
    else:
        summary["reconstruction"] = {"folder": str(recon)}
    from ..viewer import write_viewer

    page = write_viewer(output_dir)
    summary["viewer"] = str(page)
    if out.json:
        out.result(summary)
    else:
        console.print(f"look at: {page} (or `worldstereo view {output_dir}`), videos in "
                      f"{output_dir}/trajectories/*/video.mp4, the record in {output_dir}/run.json", highlight=False)


def register(root: typer.Typer) -> None:
    """Add the generate and demo commands to the root command (called once, from ``cli/__init__``)."""
    command(root, "generate")(generate)
    command(root, "demo")(demo)
