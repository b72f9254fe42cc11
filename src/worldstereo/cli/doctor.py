"""``worldstereo doctor``: what is installed and what each feature lacks."""

from __future__ import annotations

import typer
from rich.console import Console

from .app import Output, command


def doctor(out: Output) -> None:
    """Show the environment (torch, device, Open3D, FBX/USD writers, ffmpeg, chromium, weights) and what each feature lacks."""
    from rich.table import Table

    from ..doctor import diagnose

    report = diagnose()
    if out.json:
        out.result(report)
        return
    stdout = Console()
    if not out.quiet:  # quiet: only the features that lack something
        table = Table("check", "", "detail", "how to get it")
        for c in report["checks"]:
            table.add_row(c["name"], "[green]ok[/]" if c["ok"] else "[red]missing[/]", c["detail"], c["fix"])
        stdout.print(table)
    for feature, state in report["features"].items():
        if state["ready"] and out.quiet:
            continue
        status = "[green]ready[/]" if state["ready"] else f"[red]missing:[/] {', '.join(state['missing'])}"
        stdout.print(f"{feature}: {status}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add the doctor command to the root command (called once, from ``cli/__init__``)."""
    command(root, "doctor")(doctor)
