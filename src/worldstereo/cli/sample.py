"""``worldstereo sample list | export``: the bundled sample inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .app import Output, UserError, check_output, command

sample_app = typer.Typer(help="List and export the bundled sample inputs.", no_args_is_help=True)


@command(sample_app, "list")
def sample_list(out: Output) -> None:
    """List the bundled samples (name, projection, size, what they show)."""
    from ..data.samples import list_samples

    samples = list_samples()

    def table() -> None:
        from rich.table import Table

        t = Table("name", "projection", "size", "scene", "description")
        for s in samples:
            t.add_row(s["name"], s["projection"], f"{s['width']}x{s['height']}", f"{s['scene']} seed {s['seed']}",
                      s["description"])
        Console().print(t)

    out.result({"samples": samples}, table)


@command(sample_app, "export")
def sample_export(
    out: Output,
    name: str = typer.Argument(..., help="Sample name (see `worldstereo sample list`)."),
    out_dir: Optional[Path] = typer.Argument(None, help="Folder to write image.png, depth.png, meta.json (and K.json) into."),
    output_dir: Optional[Path] = typer.Option(None, "-o", "--output", help="The folder, as an option (same as OUT_DIR)."),
) -> None:
    """Copy a bundled sample's files into a folder."""
    from ..data.samples import export_sample

    if (out_dir is None) == (output_dir is None):
        raise UserError("give the output folder once: OUT_DIR or -o/--output")
    check_output(out_dir or output_dir)
    paths = [str(p) for p in export_sample(name, out_dir or output_dir)]
    for p in paths:
        out.say(f"wrote {p}")
    out.result({"sample": name, "files": paths})


def register(root: typer.Typer) -> None:
    """Add the ``sample`` group to the root command (called once, from ``cli/__init__``)."""
    root.add_typer(sample_app, name="sample")
