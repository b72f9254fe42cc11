"""Shared plumbing of the format converters: reading untrusted files into checked values.

Every helper raises :class:`TrajectoryFileError` whose one-line message starts with the file and
the field, so a converter never lets a builtin or numpy error (``TypeError``, ``OverflowError``,
a bare ``ValueError``) escape on a malformed file.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ... import jsonio
from ..cameras import MAX_SIDE, Cameras, CameraValidationError
from ..trajectory import MAX_FRAMES, CameraTrajectory, TrajectoryFileError, checked_fps, checked_name


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The parsed JSON of ``path`` (bounded depth, finite numbers; see ``jsonio``)."""
    try:
        return jsonio.load(path, what)
    except jsonio.JSONInputError as exc:
        raise TrajectoryFileError(str(exc)) from None


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of the UTF-8 text file ``path`` (at most ``jsonio.MAX_BYTES``)."""
    try:
        if path.stat().st_size > jsonio.MAX_BYTES:
            raise TrajectoryFileError(f"{path}: larger than {jsonio.MAX_BYTES >> 20} MiB; this is not a {what} file")
        return path.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise TrajectoryFileError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise TrajectoryFileError(f"{path}: is a folder, expected a {what} file") from None
    except UnicodeDecodeError as exc:
        raise TrajectoryFileError(f"{path}: not UTF-8 text (byte {exc.start}); save the {what} file as UTF-8") from None
    except OSError as exc:
        raise TrajectoryFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def require(data: Any, key: str, source: str, where: str = "") -> Any:
    loc = f"{where}.{key}" if where else key
    if not isinstance(data, dict):
        raise TrajectoryFileError(f"{source}: {where or '(top level)'}: expected a JSON object with {key!r}, "
                                  f"got {type(data).__name__}; is this the right file and --from format?")
    if key not in data:
        raise TrajectoryFileError(f"{source}: {loc}: missing; add it (formats: docs/trajectories.md)")
    return data[key]


def number(value: Any, source: str, where: str) -> float:
    """A finite JSON number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise TrajectoryFileError(f"{source}: {where}: expected a finite number, got {_show(value)}; write a plain number")
    return float(value)


def size(value: Any, source: str, where: str) -> int:
    """An image side in pixels: an integer (``640`` or ``640.0``) in [1, MAX_SIDE]."""
    v = number(value, source, where)
    if v != int(v) or not 1 <= v <= MAX_SIDE:
        raise TrajectoryFileError(f"{source}: {where}: expected a whole number of pixels in [1, {MAX_SIDE}], got {_show(value)}; write the image size")
    return int(v)


def array(value: Any, shape: tuple, source: str, where: str) -> np.ndarray:
    """A float64 array of ``shape`` (``-1`` = any length in [1, MAX_FRAMES]) from nested JSON lists of finite numbers."""
    want = " x ".join("N" if s == -1 else str(s) for s in shape)
    try:
        a = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # ragged lists, ints too big for any dtype
        a = None
    if a is None or a.dtype.kind not in "iuf":
        raise TrajectoryFileError(f"{source}: {where}: expected a {want} array of numbers; write nested lists of numbers")
    if a.ndim != len(shape) or any(s != -1 and s != n for s, n in zip(shape, a.shape)):
        raise TrajectoryFileError(f"{source}: {where}: expected a {want} array, got shape {a.shape}; fix the matrix size")
    if a.ndim and shape[0] == -1 and not 1 <= len(a) <= MAX_FRAMES:
        raise TrajectoryFileError(f"{source}: {where}: expected 1 to {MAX_FRAMES} frames, got {len(a)}; split a longer file")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise TrajectoryFileError(f"{source}: {where}: holds a non-finite number; write finite numbers")
    return a


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def derived_name(text: str, fallback: str) -> str:
    """A trajectory name made from a file or folder name (which may hold any character).

    The rule: every run of characters outside ``A-Z a-z 0-9 . _ -`` becomes ``_``, leading
    characters other than letters and digits and trailing dots are dropped, the result is cut to
    64 characters; when nothing is left, or a device name (``con``, ``nul``...) remains, ``fallback``
    (the format's name) is used.
    """
    name = _UNSAFE.sub("_", text)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:64].rstrip(".")
    try:
        return checked_name(name, "<derived>")
    except TrajectoryFileError:
        return fallback


def trajectory(K: Any, cam_from_world: Any, width: int, height: int, source: str, *, name: str, kind: str,
               fps: Any, fields: dict[str, str] | None = None,
               at: Callable[[int, str], str] = lambda i, field: f"frames[{i}].{field}") -> CameraTrajectory:
    """Build and check the trajectory a converter read; a camera error names ``source`` and the
    format's own field (``fields`` maps ``K`` / ``cam_from_world`` to it, ``at(i, field)`` places frame ``i``)."""
    if not 1 <= len(cam_from_world) <= MAX_FRAMES:
        raise TrajectoryFileError(f"{source}: expected 1 to {MAX_FRAMES} frames, got {len(cam_from_world)}; split a longer file")
    fps = checked_fps(fps, source)
    try:
        cams = Cameras(K, cam_from_world, width, height)
    except CameraValidationError as exc:
        field = (fields or {}).get(exc.field, exc.field)
        where = field if exc.index is None else at(exc.index, field)
        raise TrajectoryFileError(f"{source}: {where}: {exc.reason}") from None
    return CameraTrajectory(cams, name=name, kind=kind, fps=fps)


def nesting(value: Any) -> int:
    """How many list levels the first elements of ``value`` go down (2 for ``[[1, 2], ...]``)."""
    n = 0
    while isinstance(value, list) and value:
        n, value = n + 1, value[0]
    return n


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return text if len(text) <= 24 else text[:21] + "..."
