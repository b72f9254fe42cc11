"""``worldstereo sample list | export``: the bundled sample inputs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .app import _run, app, console


sample_app = typer.Typer(help="List and export the bundled sample inputs.", no_args_is_help=True)
app.add_typer(sample_app, name="sample")


@sample_app.command("list")
def sample_list() -> None:
    """List the bundled samples (name, projection, size, what they show)."""
    from rich.table import Table

    from ..data.samples import list_samples

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
        from ..data.samples import export_sample

        for path in export_sample(name, out_dir):
            console.print(f"wrote {path}", highlight=False)

    _run(body)
