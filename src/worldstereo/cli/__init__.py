"""The ``worldstereo`` command: one subcommand per user task, one module per group of tasks.

Library errors surface as one line on stderr with exit code 2 (``app._run``).
"""

from . import bench, doctor, generate, reconstruct, sample, train, trajectory, view  # noqa: F401  (each registers its commands)
from .app import UserError, app, console

__all__ = ["app", "console", "UserError", "main"]


def main() -> None:
    app()
