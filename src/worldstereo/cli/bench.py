"""``worldstereo bench camera|recon|memory``: the paper's benchmarks on synthetic scenes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .app import UserError, _run, app, check_output, console

bench_app = typer.Typer(help="Benchmarks on synthetic scenes: results.json, report.md and plots in --out.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")

POSES = ("pycolmap", "pose-head", "given")


def _bench(kind: str, out: Path, quick: bool, generator: list[str], model_dir: Optional[Path], as_json: bool,
           seed: int, poses: str) -> None:
    def body() -> None:
        from ..bench import BENCHES, GeneratorSpec, get_suite, write_report
        from ..pipelines.generators import GENERATORS

        check_output(out, option="--out")
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
        results = BENCHES[kind](out, suite, specs, seed=seed, poses=poses,
                                progress=lambda msg: console.print(f"[dim]{time.perf_counter() - t0:6.1f}s[/] {msg}",
                                                                   highlight=False))
        files = write_report(results, out)
        console.print(f"bench {kind} ({suite.size}) done in {time.perf_counter() - t0:.1f} s: "
                      + ", ".join(str(f) for f in [out / "results.json", *files]), highlight=False)
        if as_json:
            typer.echo(json.dumps({"bench": kind, "out": str(out), "aggregate": results["aggregate"]}))

    _run(body)


def _command(kind: str, doc: str) -> None:
    def command(
        out: Path = typer.Option(..., "--out", help="Folder for results.json, report.md, plots and runs (resumable)."),
        quick: bool = typer.Option(True, "--quick/--full", help="Suite size: quick (minutes on a CPU) or full."),
        generator: list[str] = typer.Option(["warp"], "--generator", "-g", help="Generator backend (repeatable)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Model folder for tiny/wan (default: bundled tiny)."),
        as_json: bool = typer.Option(False, "--json", help="Print the aggregate figures as one JSON line."),
        seed: int = typer.Option(0, "--seed", help="Generation seed."),
        poses: str = typer.Option("pycolmap", "--poses", help="Camera estimation: pycolmap | pose-head | given."),
    ) -> None:
        _bench(kind, out, quick, generator, model_dir, as_json, seed, poses)

    command.__doc__ = doc
    bench_app.command(kind)(command)


_command("camera", "Camera accuracy and image quality per generator on synthetic trajectories (paper §4.2).")
_command("recon", "Single image -> default plan -> reconstruction -> F1/AUC per generator and memory setting (paper §4.3).")
_command("memory", "Memory ablation on revisited views (paper Table 5) and the trajectory-order study (Table 7).")
