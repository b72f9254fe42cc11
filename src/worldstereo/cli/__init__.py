"""The ``worldstereo`` command: one subcommand per user task, one module per group of tasks.

Library errors surface as one line on stderr with exit code 2 (``app._run``).
"""

from . import bench, doctor, generate, reconstruct, sample, train, trajectory, view
from .app import UserError, app, console

#: every command module: each adds its commands (or its group) to ``app`` in ``register``, called here
#: and nowhere else, so the command set is this list and importing a module registers nothing
COMMAND_MODULES = (bench, doctor, generate, reconstruct, sample, train, trajectory, view)
for _module in COMMAND_MODULES:
    _module.register(app)

__all__ = ["COMMAND_MODULES", "app", "console", "UserError", "main"]


def main() -> None:
    app()
