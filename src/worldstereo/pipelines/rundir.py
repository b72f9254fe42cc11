"""Writing a resumable run directory (DESIGN §6); its layout and the typed record ``run.json`` are
owned by :mod:`worldstereo.runlayout`.

``run.json`` holds the inputs (with SHA-256 hashes), the settings, library versions and, per
trajectory, a status and the hashes of the files it wrote. A trajectory counts as finished only
when it is marked done *and* every recorded file still has its recorded hash, so a rerun never
trusts a half-written or altered file. Every write is atomic.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..runlayout import (LOCK, RECORD, TRAJECTORIES, RunError, RunRecord, TrajectoryRecord, read_record,
                         write_record)
from ..safepath import UnsafePathError, check_name, inside, remove_tree

__all__ = ["RunDirectory", "RunError", "library_versions", "read_record", "run_lock", "sha256_file"]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the outputs."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("worldstereo", "torch", "numpy", "diffusers", "open3d-cpu", "open3d"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _empty(root: Path) -> bool:
    return root.is_dir() and all(p.name == LOCK for p in root.iterdir())


@contextlib.contextmanager
def run_lock(root: str | os.PathLike) -> Iterator[Path]:
    """Hold the run folder's lock while writing it: a second process on the same folder gets a
    one-line :class:`RunError` instead of interleaving files with the first. A folder the lock had to
    create is removed again when the block fails before writing anything else."""
    root = Path(root)
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / LOCK, "a")
    except OSError as exc:
        raise RunError(f"{root}: cannot create the run folder ({exc.strerror}); choose another -o") from None
    try:
        import fcntl
    except ImportError:  # no POSIX locks on this platform: runs are not guarded against each other
        fcntl = None
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise RunError(f"{root}: another worldstereo process is writing this run; wait for it to finish "
                           "or choose another -o") from None
    ok = False
    try:
        yield root
        ok = True
    finally:
        handle.close()  # releases the lock
        if not ok and created and _empty(root):
            (root / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                root.rmdir()


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"{root}: output directory is not writable ({exc.strerror}); choose another -o") from None


class RunDirectory:
    """The files of one run. Create with :meth:`open`; paths follow DESIGN §6."""

    def __init__(self, root: Path, record: RunRecord):
        self.root = root
        self.record = record

    # -- opening --------------------------------------------------------------------------------
    @staticmethod
    def precheck(root: str | os.PathLike, resume: bool = False) -> None:
        """The checks of :meth:`open` that need no inputs, for callers to run before any heavy work:
        ``root`` is a new or empty folder, or a run (valid record) to be resumed."""
        root = Path(root)
        if (root / RECORD).is_file():
            if not resume:
                raise RunError(f"{root}: holds a previous run; pass --resume to continue it or choose another -o")
            read_record(root)
        elif root.exists() and not _empty(root):
            raise RunError(f"{root}: exists and is not an empty folder or a worldstereo run; choose another -o")
        else:
            parent = next((p for p in (root, *root.parents) if p.exists()), Path("."))
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunError(f"{root}: cannot be created ({parent} is not writable); choose another -o")

    @classmethod
    def open(cls, root: str | os.PathLike, inputs: dict[str, Any], settings: dict[str, Any],
             resume: bool = False) -> "RunDirectory":
        """Start a run in ``root`` or, with ``resume``, continue the one there.

        ``inputs`` maps names to file paths (hashed) or plain JSON values; ``settings`` are JSON
        values. Resuming refuses when they differ from the recorded ones, naming the first difference.
        """
        root = Path(root)
        hashed = {k: ({"path": str(v), "sha256": sha256_file(v)} if isinstance(v, (str, os.PathLike)) and Path(v).is_file()
                      else v) for k, v in inputs.items()}
        settings = json.loads(json.dumps(settings))
        record_path = root / RECORD
        if record_path.is_file():
            if not resume:
                raise RunError(f"{root}: holds a previous run; pass --resume to continue it or choose another -o")
            record = read_record(root)
            cls._check_same(root, record, hashed, settings)
            _check_writable(root)
            run = cls(root, record)
            run.record.resumed = (run.record.resumed or 0) + 1
            run.save()
            return run
        if root.exists() and not _empty(root):
            raise RunError(f"{root}: exists and is not an empty folder or a worldstereo run; choose another -o")
        _check_writable(root)
        run = cls(root, RunRecord.new(hashed, settings, library_versions()))
        run.save()
        return run

    @staticmethod
    def _check_same(root: Path, record: RunRecord, inputs: dict, settings: dict) -> None:
        for kind, new, old in (("input", inputs, record.inputs), ("setting", settings, record.settings)):
            for key in sorted(set(new) | set(old)):
                a, b = old.get(key), new.get(key)
                if isinstance(a, dict) and isinstance(b, dict) and "sha256" in a and "sha256" in b:
                    a, b = a["sha256"], b["sha256"]
                if a != b:
                    raise RunError(f"{root}: --resume refused: {kind} '{key}' differs from the recorded run "
                                   f"({_short(a)} vs {_short(b)}); rerun without --resume in a new folder")

    # -- paths ------------------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """A path inside the run, proven so (symlinks resolved) before anything writes to it."""
        return inside(self.root.joinpath(*parts), self.root)

    def trajectory_dir(self, name: str) -> Path:
        """``trajectories/<name>``; ``name`` must be a safe identifier (it came from a file)."""
        return self.path(TRAJECTORIES, check_name(name, "trajectory name"))

    # -- state ------------------------------------------------------------------------------------
    def save(self) -> None:
        write_record(self.root, self.record)

    def entry(self, name: str) -> TrajectoryRecord:
        return self.record.entry(name)

    def is_done(self, name: str) -> bool:
        """Marked done and every recorded file present with its recorded hash."""
        e = self.record.trajectories.get(name)
        if e is None or e.status != "done":
            return False
        for rel, digest in e.files.items():
            p = self.root / rel
            try:
                inside(p, self.root)
            except UnsafePathError:
                return False
            if not p.is_file() or sha256_file(p) != digest:
                return False
        return True

    def start(self, name: str) -> Path:
        """Begin (or restart from scratch) a trajectory: its folder is emptied, status 'running'."""
        d = self.trajectory_dir(name)
        remove_tree(d, self.root)
        d.mkdir(parents=True)
        self.record.entry(name)
        self.record.trajectories[name] = TrajectoryRecord(status="running", started=time.time())
        self.save()
        return d

    def finish(self, name: str, files: Iterable[Path], info: Optional[dict] = None) -> None:
        """Record the trajectory's files (with hashes) and extra info, then mark it done."""
        e = self.entry(name)
        e.files = {str(Path(f).relative_to(self.root)): sha256_file(f) for f in files}
        e.info.update(info or {})
        e.seconds = round(time.time() - (e.started if e.started is not None else time.time()), 3)
        e.status = "done"
        self.save()

    def record_output(self, key: str, files: Iterable[Path], info: Optional[dict] = None) -> None:
        """Hashes and info of run-level outputs (cache.ply, memory bank, reconstruction…)."""
        self.record.outputs[key] = {"files": {str(Path(f).relative_to(self.root)): sha256_file(f) for f in files}, **(info or {})}
        self.save()


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 24 else s[:12] + "…"
