"""Atomic file output: write to a temporary name in the same folder, then rename.

A crash leaves either the old file or no file, never a half-written one that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


class OutputError(ValueError):
    """An output cannot be written where asked (read-only, no space, not a folder); names the final path."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    For writers that want a file name (matplotlib, imageio, Open3D). The temporary keeps the
    final suffix so format-sniffing writers pick the right format.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"{path}: folder {path.parent} does not exist; create it or choose another output")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, cannot write a file there; choose another output")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {path.parent} ({exc.strerror}); choose another output") from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 less the umask)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot replace it ({exc.strerror}); choose another output") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")
