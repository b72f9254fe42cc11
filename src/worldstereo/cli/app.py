"""The root of the ``worldstereo`` command: the typer app, error handling and the output options.

Library errors surface as one line on stderr with exit code 2 (see ``_run``).

Output options, the same on every subcommand (and accepted before it: ``worldstereo -q generate ...``):

- ``-q/--quiet``: no progress bars and no messages; warnings and errors only (on stderr).
- ``-v/--verbose``: debug logging of the library on stderr.
- ``--json`` (every command that produces a result): the final summary as one JSON object on stdout
  and nothing else there; progress and messages are off as with ``--quiet``.

stdout carries only results (JSON, tables asked for, a URL); progress bars and messages go to stderr.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..progress import ProgressDisplay


class _OneLineUsageErrors(TyperGroup):
    """Usage errors (unknown option, a value of the wrong type, a missing argument) as one line and
    exit 2, like every other bad input, instead of click's usage block and boxed message."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.exceptions.TyperException as exc:  # typer's own (vendored click) usage errors
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help text is the answer
                exc.show()
                sys.exit(exc.exit_code)
            path = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "worldstereo"
            msg = " ".join(exc.format_message().split()).rstrip(".")
            console.print(f"[bold red]error:[/] {path}: {msg}; see '{path} --help'", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="worldstereo",
    cls=_OneLineUsageErrors,
    help="Camera-guided, 3D-consistent video generation and scene reconstruction (WorldStereo).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console(stderr=True)


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


def check_output(path: Path, kind: str = "folder", option: str = "-o") -> None:
    """Before any work: ``path`` can be written as a ``kind`` ("folder" or "file"): it is not the
    other kind already, and the nearest existing folder above it is writable."""
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder; choose another {option}")
    if kind == "file" and path.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file name; choose another {option}")
    start = path if kind == "folder" else path.parent
    parent = next((p for p in (start, *start.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, not a folder; choose another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {parent} is not writable; choose another {option}")


def _run(fn: Callable[[], None]) -> None:
    """Run a command body; turn expected failures into one clear line and exit code 2."""
    try:
        fn()
    except (UserError, ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # read-only or full file systems and the like, where a library wrote directly
        where = exc.filename or "output"
        console.print(f"[bold red]error:[/] {where}: {exc.strerror or exc}; choose another output location",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or messages; warnings and errors only.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")]
Json = Annotated[bool, typer.Option("--json", help="Print the final summary as one JSON object on stdout (no progress).")]


def _set_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    # Our own messages at the chosen level; third-party libraries only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("worldstereo").setLevel(level)


@dataclass
class Output:
    """Where a command's output goes, after its own and the root's -q/-v/--json flags."""

    quiet: bool = False
    verbose: bool = False
    json: bool = False

    @property
    def chatty(self) -> bool:
        """Whether progress bars and messages are shown."""
        return not (self.quiet or self.json)

    def progress(self, transient: bool = False) -> ProgressDisplay:
        return ProgressDisplay(enabled=self.chatty, console=console, transient=transient)

    def say(self, message: str) -> None:
        """A message for a person (stderr), hidden by --quiet and --json."""
        if self.chatty:
            console.print(message, highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        """A warning (stderr), shown even with --quiet."""
        console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    def result(self, summary: dict[str, Any], human: Optional[Callable[[], None]] = None) -> None:
        """The final summary: JSON on stdout with --json, else ``human()`` unless --quiet."""
        if self.json:
            typer.echo(json.dumps(summary, indent=2, default=str))
        elif human is not None and not self.quiet:
            human()


def command(group: typer.Typer, name: str, json_output: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(out, ...)`` as the subcommand ``name`` of ``group`` with the flags every command
    shares (``-q/--quiet``, ``-v/--verbose`` and, for commands with a result, ``--json``).

    The command receives the combined :class:`Output` as ``out`` and runs under :func:`_run`, so bad
    input anywhere in it is one line and exit 2.
    """

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "out"]
        shared = [inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Quiet),
                  inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Verbose)]
        if json_output:
            shared.append(inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Json))

        @functools.wraps(fn)
        def run(**kwargs: Any) -> None:
            out = output(kwargs.pop("quiet"), kwargs.pop("verbose"), kwargs.pop("as_json", False))
            _run(lambda: fn(out=out, **kwargs))

        run.__signature__ = sig.replace(parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared)
        run.__annotations__ = {p.name: p.annotation for p in run.__signature__.parameters.values()}
        group.command(name)(run)
        return fn

    return register


# the flags given before the subcommand; set by the root callback on every invocation
_root_flags = {"quiet": False, "verbose": False}


def output(quiet: bool = False, verbose: bool = False, as_json: bool = False) -> Output:
    """Combine a command's flags with the root's and set the log level; the first call of every command."""
    out = Output(quiet=quiet or _root_flags["quiet"], verbose=verbose or _root_flags["verbose"], json=as_json)
    _set_logging(out.quiet or out.json, out.verbose)
    return out


@app.callback()
def _main(verbose: Verbose = False, quiet: Quiet = False) -> None:
    _root_flags.update(quiet=quiet, verbose=verbose)
    _set_logging(quiet, verbose)
