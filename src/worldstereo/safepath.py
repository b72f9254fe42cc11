"""Untrusted names and guarded deletion: the one place that decides what may become a path.

Names that come from files a user received (a trajectory's ``"name"``, a sample or bench unit,
an export) become folder and file names. :func:`check_name` admits only a small safe alphabet, so a
name can never climb out of its folder, hide as a dot file or hit a reserved device name.

Every folder the project deletes, and every file it replaces inside a run, goes through
:func:`inside` first: the path, with symlinks resolved, must lie strictly inside the root it
belongs to. :func:`remove_tree` is the only ``rmtree`` of the package.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Windows device names stay reserved with any extension ("con.txt"); refused everywhere so a run
# folder can be copied to any file system.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


class UnsafeNameError(ValueError):
    """A name that would become a path is not a plain identifier; the message names where it came from."""


class UnsafePathError(ValueError):
    """A path the project was about to delete or overwrite lies outside the folder it belongs to."""


def check_name(name: object, what: str = "name", source: str = "") -> str:
    """Return ``name`` if it is a safe identifier, else raise :class:`UnsafeNameError`.

    Safe: 1–64 characters from ``A-Z a-z 0-9 . _ -``, starting with a letter or digit (so never
    ``.``, ``..`` or a hidden file), not ending in a dot, not a reserved device name.
    ``what`` names the field and ``source`` the file, for the message.
    """
    where = f"{source}: {what}" if source else what
    fix = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if not isinstance(name, str):
        raise UnsafeNameError(f"{where}: must be a string, got {type(name).__name__}; {fix}")
    shown = name if len(name) <= 40 else name[:37] + "..."
    if not name or len(name) > NAME_MAX or not _NAME.fullmatch(name) or name.endswith("."):
        raise UnsafeNameError(f"{where}: {shown!r} is not a safe name (it becomes a folder name); {fix}")
    if name.split(".")[0].lower() in _RESERVED:
        raise UnsafeNameError(f"{where}: {shown!r} is a reserved device name; choose another name")
    return name


def inside(path: str | os.PathLike, root: str | os.PathLike) -> Path:
    """``path`` if it lies strictly inside ``root`` once both are resolved (symlinks followed).

    A symlink at ``path`` itself is resolved too, so a link that points out of ``root`` is refused.
    Raises :class:`UnsafePathError` otherwise. Returns ``path`` unresolved (the caller's spelling).
    """
    path = Path(path)
    real_root = Path(root).resolve()
    real = path.resolve()
    if real == real_root or real_root not in real.parents:
        raise UnsafePathError(f"{path}: refusing to touch a path outside {root} (it resolves to {real}); "
                              "remove links that leave the folder and rerun")
    return path


def remove_tree(path: str | os.PathLike, root: str | os.PathLike, missing_ok: bool = True) -> None:
    """Delete the folder ``path`` after proving it lies inside ``root``; never follows a symlink out.

    A symlink at ``path`` is refused even when it points inside ``root`` (``shutil.rmtree`` would
    refuse it too, but only after the guard, which names the fix).
    """
    path = Path(path)
    if path.is_symlink():
        raise UnsafePathError(f"{path}: is a symbolic link; refusing to delete through it. Remove the link and rerun")
    inside(path, root)  # also for a missing path: its parents may be links out of root
    if not path.exists():
        if missing_ok:
            return
        raise FileNotFoundError(f"{path}: no such folder")
    shutil.rmtree(path)
