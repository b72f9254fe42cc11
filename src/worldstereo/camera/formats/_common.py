"""Shared plumbing of the format converters: reading files with located errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..trajectory import TrajectoryFileError


def read_json(path: str | os.PathLike, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise TrajectoryFileError(f"{path}: no such {what} file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrajectoryFileError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryFileError(f"{path}: cannot read ({exc})") from None


def require(data: dict, key: str, source: str, where: str = "") -> Any:
    if not isinstance(data, dict) or key not in data:
        loc = f"{where}.{key}" if where else key
        raise TrajectoryFileError(f"{source}: {loc}: missing")
    return data[key]
