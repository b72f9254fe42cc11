"""``worldstereo view`` and ``report``: looking at a run."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .app import Output, UserError, command


def view(
    out: Output,
    run_dir: Path = typer.Argument(..., help="A run directory (holds run.json)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port on 127.0.0.1 (0 = any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rewrite viewer.html even if it is this version's."),
) -> None:
    """Serve a run's viewer.html and its own output files on 127.0.0.1 (writing the page if missing or
    from another version) until Ctrl-C; prints its URL on stdout."""
    from ..viewer import RunServer, write_viewer
    from ..viewer.html import page_is_current
    from ..viewer.rundata import read_run_record

    read_run_record(run_dir)  # a folder that is not a run gets nothing written into it, and is not served
    # A page from another version (or not ours) would be blocked by this version's CSP: rewrite it.
    if rebuild or not page_is_current(run_dir / "viewer.html"):
        if not os.access(run_dir, os.W_OK | os.X_OK):
            raise UserError(f"{run_dir}: the run folder is not writable, so viewer.html cannot be written there; "
                            "copy the run somewhere writable")
        out.say(f"wrote {write_viewer(run_dir)}")
    server = RunServer(run_dir, port).start()
    url = server.url + "viewer.html"
    typer.echo(url)
    out.say("serving; press Ctrl-C to stop")
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    import signal
    import time

    def stop(*_args) -> None:
        raise KeyboardInterrupt

    # explicit handlers: a process started with SIGINT ignored (nohup, a background job) would never stop
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:  # a sleep loop: Ctrl-C interrupts time.sleep at once, a lock wait not always
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def report(
    out: Output,
    run_dir: Path = typer.Argument(..., help="A run directory (holds run.json)."),
) -> None:
    """Write report.md and report.html (plan, frames, references, cache growth, timings, warnings) into a run."""
    from ..runlayout import read_record
    from ..viewer.report import collect_warnings, write_report
    from ..viewer.rundata import load_run

    read_record(run_dir)  # a folder that is not a run gets nothing written into it
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"{run_dir}: the run folder is not writable, so report.md cannot go there; "
                        "copy the run somewhere writable")
    md = write_report(run_dir)
    out.say(f"wrote {md} and {md.with_suffix('.html')}")
    out.result({"run": str(run_dir), "markdown": str(md), "html": str(md.with_suffix(".html")),
                "warnings": collect_warnings(load_run(run_dir))})


def register(root: typer.Typer) -> None:
    """Add the view and report commands to the root command (called once, from ``cli/__init__``)."""
    command(root, "view", json_output=False)(view)
    command(root, "report")(report)
