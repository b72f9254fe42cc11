"""The root of the ``worldstereo`` command: the typer app, error handling and logging options.

Library errors surface as one line on stderr with exit code 2 (see ``_run``).
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

import typer
from rich.console import Console

app = typer.Typer(
    name="worldstereo",
    help="Camera-guided, 3D-consistent video generation and scene reconstruction (WorldStereo).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
