"""``worldstereo bench camera|recon|memory``: the paper's benchmarks on synthetic scenes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .app import Output, UserError, check_output, command

bench_app = typer.Typer(help="Benchmarks on synthetic scenes: results.json, report.md and plots in --out.",
                        no_args_is_help=True)

POSES = ("pycolmap", "pose-head", "given")


def _bench(out: Output, kind: str, out_dir: Path, quick: bool, generator: list[str], model_dir: Optional[Path],
           seed: int, poses: str) -> None:
    from ..bench import BENCHES, GeneratorSpec, get_suite, write_report
    from ..pipelines.generators import GENERATORS

    check_output(out_dir, option="--out")
    for g in generator:
        if g not in GENERATORS:
            raise UserError(f"--generator {g!r} is not one of {', '.join(GENERATORS)}")
    if poses not in POSES:
        raise UserError(f"--poses {poses!r} is not one of {', '.join(POSES)}")
    if poses == "pose-head" and not all(g != "warp" for g in generator):
        raise UserError("--poses pose-head needs learned generators (tiny, wan); warp has no pose head")
    suite = get_suite(kind, "quick" if quick else "full")
    specs = [GeneratorSpec(g, str(model_dir) if model_dir and g != "warp" else None) for g in dict.fromkeys(generator)]
    t0 = time.perf_counter()
    results = BENCHES[kind](out_dir, suite, specs, seed=seed, poses=poses,
                            progress=lambda msg: out.say(f"[dim]{time.perf_counter() - t0:6.1f}s[/] {msg}"))
    files = write_report(results, out_dir)
    out.say(f"bench {kind} ({suite.size}) done in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(str(f) for f in [out_dir / "results.json", *files]))
    if out.json:
        typer.echo(json.dumps({"bench": kind, "out": str(out_dir), "aggregate": results["aggregate"]}))


def _register(kind: str, doc: str) -> None:
    def run(
        out: Output,
        out_dir: Path = typer.Option(..., "--out", help="Folder for results.json, report.md, plots and runs (resumable)."),
        quick: bool = typer.Option(True, "--quick/--full", help="Suite size: quick (minutes on a CPU) or full."),
        generator: list[str] = typer.Option(["warp"], "--generator", "-g", help="Generator backend (repeatable)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Model folder for tiny/wan (default: bundled tiny)."),
        seed: int = typer.Option(0, "--seed", help="Generation seed."),
        poses: str = typer.Option("pycolmap", "--poses", help="Camera estimation: pycolmap | pose-head | given."),
    ) -> None:
        _bench(out, kind, out_dir, quick, generator, model_dir, seed, poses)

    run.__doc__ = doc
    command(bench_app, kind)(run)


_register("camera", "Camera accuracy and image quality per generator on synthetic trajectories (paper §4.2).")
_register("recon", "Single image -> default plan -> reconstruction -> F1/AUC per generator and memory setting (paper §4.3).")
_register("memory", "Memory ablation on revisited views (paper Table 5) and the trajectory-order study (Table 7).")


def register(root: typer.Typer) -> None:
    """Add the ``bench`` group to the root command (called once, from ``cli/__init__``)."""
    root.add_typer(bench_app, name="bench")
