"""``worldstereo view``, ``report`` and ``doctor``: looking at a run and at the environment."""

from __future__ import annotations

from pathlib import Path


import typer
from rich.console import Console

from .app import UserError, _run, app, console


@app.command("view")
def view(
    run_dir: Path = typer.Argument(..., help="A run directory (holds run.json)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port on 127.0.0.1 (0 = any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rewrite viewer.html even if it exists."),
) -> None:
    """Serve a run's viewer.html on 127.0.0.1 (writing it if missing) until Ctrl-C."""
    state = {}

    def body() -> None:
        from ..viewer import RunServer, write_viewer

        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: not a folder; pass a worldstereo run directory")
        if rebuild or not (run_dir / "viewer.html").is_file():
            console.print(f"wrote {write_viewer(run_dir)}", highlight=False)
        state["server"] = RunServer(run_dir, port).start()

    _run(body)
    server = state["server"]
    url = server.url + "viewer.html"
    typer.echo(url)
    console.print("serving; press Ctrl-C to stop", highlight=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command("report")
def report(run_dir: Path = typer.Argument(..., help="A run directory (holds run.json).")) -> None:
    """Write report.md and report.html (plan, frames, references, cache growth, timings, warnings) into a run."""

    def body() -> None:
        from ..viewer.report import write_report

        md = write_report(run_dir)
        console.print(f"wrote {md} and {md.with_suffix('.html')}", highlight=False)

    _run(body)


@app.command("doctor")
def doctor(json_output: bool = typer.Option(False, "--json", help="Print the findings as JSON on stdout.")) -> None:
    """Show the environment (torch, device, Open3D, FBX/USD writers, ffmpeg, chromium, weights) and what each feature lacks."""
    import json

    from rich.table import Table

    from ..doctor import diagnose

    report = diagnose()
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("check", "", "detail", "how to get it")
    for c in report["checks"]:
        table.add_row(c["name"], "[green]ok[/]" if c["ok"] else "[red]missing[/]", c["detail"], c["fix"])
    out = Console()
    out.print(table)
    for feature, state in report["features"].items():
        status = "[green]ready[/]" if state["ready"] else f"[red]missing:[/] {', '.join(state['missing'])}"
        out.print(f"{feature}: {status}", highlight=False)
