"""Browser viewer and report of a run directory (points, frustums, videos; report.md/.html)."""

from .html import write_viewer
from .report import write_report
from .rundata import RunContents, load_run
from .server import RunServer

__all__ = ["write_viewer", "write_report", "load_run", "RunContents", "RunServer"]
