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
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
