"""Reading JSON that a user supplied: bounded nesting, finite numbers, errors that name the file.

Python's ``json`` recurses once per nesting level and reads ``1e400`` as ``inf`` and ``NaN`` /
``Infinity`` as floats; none of these belongs in a project file. :func:`loads` and :func:`load`
turn every such case, and every decoding error, into :class:`JSONInputError` (a ``ValueError``)
whose message names the source and where in it the problem is.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

MAX_DEPTH = 64
MAX_BYTES = 256 << 20


class JSONInputError(ValueError):
    """A JSON input is unreadable, too deep, holds a non-finite number, or (:func:`check`, and the
    loaders of project files without an error class of their own) does not hold what its reader expects."""


def json_path(parts) -> str:
    """``a.b[3].c`` for the key/index path of a JSON value (e.g. a jsonschema error's ``absolute_path``)."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(f"number {text[:24]} is out of range")
    return value


def _constant(name: str) -> float:
    raise JSONInputError(f"{name} is not a number this project accepts")


def _depth_ok(obj: Any, max_depth: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth > max_depth:
                return False
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return True


def loads(text: str | bytes, source: str = "<json>", max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text``; raise :class:`JSONInputError` naming ``source`` on any problem."""
    try:
        obj = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except JSONInputError as exc:
        raise JSONInputError(f"{source}: {exc}; write finite numbers") from None
    except json.JSONDecodeError as exc:
        raise JSONInputError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise JSONInputError(f"{source}: JSON nested deeper than {max_depth} levels; this is not a project file") from None
    except (UnicodeDecodeError, ValueError) as exc:  # bytes that are not UTF-8, huge integers
        raise JSONInputError(f"{source}: cannot parse ({str(exc)[:80]})") from None
    if not _depth_ok(obj, max_depth):
        raise JSONInputError(f"{source}: JSON nested deeper than {max_depth} levels; this is not a project file")
    for value in _ints(obj):
        if abs(value) > 2**63:
            raise JSONInputError(f"{source}: integer {str(value)[:24]}… is out of range; write a smaller number")
    return obj


def _ints(obj: Any):
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool):
            yield node


def check(data: Any, schema: dict, source: str, fix: str = "") -> Any:
    """``data`` if it matches the JSON ``schema``, else :class:`JSONInputError` naming ``source`` and the first bad field."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        message = error.message.replace("\n", " ")
        if len(message) > 160:  # jsonschema starts with the value's repr, which can be the whole file
            message = f"does not meet '{error.validator}': {str(error.validator_value)[:80]}"
        raise JSONInputError(f"{source}: {json_path(error.absolute_path)}: {message}" + (f"; {fix}" if fix else ""))
    return data


def load(path: str | os.PathLike, what: str = "JSON", max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse the file ``path`` (``what`` names it in the missing-file message)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise JSONInputError(f"{path}: {what} file larger than {MAX_BYTES >> 20} MiB; this is not a project file")
        text = path.read_bytes()
    except FileNotFoundError:
        raise JSONInputError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise JSONInputError(f"{path}: is a folder, expected a {what} file") from None
    except OSError as exc:
        raise JSONInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return loads(text, source=str(path), max_depth=max_depth)
