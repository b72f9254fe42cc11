import typer

from worldstereo.cli import COMMAND_MODULES, app


def _names(group: typer.Typer) -> list[str]:
    return [c.name for c in group.registered_commands] + [g.name for g in group.registered_groups]


def test_the_command_set_is_the_list_of_command_modules():
    """Commands are registered by ``cli/__init__`` calling each module's ``register``, not by importing
    the module: registering the same list on a fresh root gives exactly the root's commands."""
    fresh = typer.Typer()
    for module in COMMAND_MODULES:
        module.register(fresh)
    assert sorted(_names(fresh)) == sorted(_names(app)) == sorted(
        ["bench", "demo", "doctor", "export", "generate", "reconstruct", "report", "sample", "train",
         "trajectory", "view"])
