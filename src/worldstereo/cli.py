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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
