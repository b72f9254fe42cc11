"""``worldstereo train data | all | STAGE``: the training stages (one process, or many under torchrun)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import Output, check_output, command, console

CONFIG_HELP = "A preset (tiny-cpu, tiny-gpu, full-8gpu) or a TrainConfig .json."


def _display(quiet: bool):
    """A rich progress bar per stage (loss, lr, samples/s, ETA); None when quiet."""
    if quiet:
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console)

    def for_stage(stage: str):
        task = progress.add_task(stage, total=None, info="")

        def cb(done: int, total: int, record: dict) -> None:
            info = " ".join(f"{k}={record[k]:.4g}" for k in ("loss", "fake_loss", "l_rec") if k in record)
            progress.update(task, completed=done, total=total, info=info)

        return cb

    return progress, for_stage


def _summary(results, as_json: bool) -> None:
    rows = [{"stage": r.stage, "steps": r.steps, "wall_s": round(r.wall_s, 1), "final": str(r.final),
             "loss": r.last.get("loss")} for r in results]
    if as_json:
        typer.echo(json.dumps({"stages": rows}))
    else:
        for r in rows:
            console.print(f"{r['stage']:>6}: {r['steps']} steps in {r['wall_s']:.0f} s -> {r['final']}", highlight=False)


def train(
    out: Output,
    what: str = typer.Argument(..., help="A stage (base, camera, ggm, ssm, dmd, pose), 'all' (clips + every stage) or 'data' (clips only)."),
    config: str = typer.Option("tiny-cpu", "--config", "-c", help=CONFIG_HELP),
    output_dir: Path = typer.Option(..., "-o", "--output", help="Run folder ('all', 'data') or stage folder (a stage)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training clips for a single stage (from 'worldstereo train data')."),
    init: Optional[Path] = typer.Option(None, "--init", help="A single stage starts from this model (the previous stage's final/)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the config's step count (single stage)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the last checkpoint (default)."),
    export: Optional[Path] = typer.Option(None, "--export", help="'all': copy the final model to this folder."),
) -> None:
    """Train WorldStereo: one stage, or the whole schedule (rerun to resume). Under torchrun every process
    runs the same command and gradients are averaged (DDP, or FSDP at full scale)."""

    import os

    from ..training import STAGES, load_train_config, make_data, train_all, train_stage

    if what not in (*STAGES, "all", "data"):
        raise ValueError(f"'{what}' is not a stage; choose one of {', '.join(STAGES)}, all or data")
    check_output(output_dir)
    cfg = load_train_config(config)
    if what == "data":
        index = make_data(cfg, output_dir)
        out.result({"index": str(index)}, lambda: console.print(f"training clips: {index}", highlight=False))
        return
    rank0 = int(os.environ.get("RANK", "0")) == 0
    progress, for_stage = _display(not out.chatty or not rank0)
    with progress if progress is not None else _null():
        if what == "all":
            results = train_all(cfg, output_dir, STAGES, export, progress=for_stage)
        else:
            if data is None:
                raise ValueError(f"training stage {what} needs --data (make clips with 'worldstereo train data -o DIR')")
            results = [train_stage(what, cfg, data, output_dir, init, steps, resume,
                                   for_stage(what) if for_stage else None)]
    if rank0 and not out.quiet:
        _summary(results, out.json)


def _null():
    import contextlib

    return contextlib.nullcontext()


def register(root: typer.Typer) -> None:
    """Add the train command to the root command (called once, from ``cli/__init__``)."""
    command(root, "train")(train)
