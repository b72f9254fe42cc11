"""Progress bars with ETA for long steps, shared by the command line and library code.

One display object, used as a context manager; it draws on stderr (stdout stays free for ``--json``)
and draws nothing when disabled, so callers never branch on quiet mode::

    with ProgressDisplay(enabled=not quiet) as display:
        frames = display.task("frames", total=n)
        for i in range(n):
            ...
            frames.update(completed=i + 1)
        run(progress=display.step_callback())        # (step, done, total) callbacks, one bar per step

Library functions take plain callbacks (see ``step_callback`` and ``scene_callback``) rather than a
display, so they stay usable without rich; nothing here imports typer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

StepCallback = Callable[[str, int, int], None]  # (step name, done, total)
SceneCallback = Callable[[str, str, int, int, str], None]  # (kind, trajectory, i, n, what); pipelines/runner.py


@dataclass
class Task:
    """One bar of a display; ``update`` moves it, ``remove`` takes it off the screen."""

    display: "ProgressDisplay"
    id: TaskID

    def update(self, completed: Optional[float] = None, *, advance: Optional[float] = None,
               total: Optional[float] = None, description: Optional[str] = None) -> None:
        self.display.update(self, completed=completed, advance=advance, total=total, description=description)

    def remove(self) -> None:
        self.display._progress.remove_task(self.id)


class ProgressDisplay:
    """Bars (description, bar, done/total, elapsed, ETA) for the long steps of one command.

    Args:
        enabled: draw anything at all; ``False`` for ``--quiet`` and ``--json``.
        console: where to draw; default a console on stderr.
        transient: clear the bars when the display closes (keep them for a lasting record of steps).
    """

    def __init__(self, enabled: bool = True, console: Optional[Console] = None, transient: bool = False):
        self.enabled = enabled
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=console or Console(stderr=True), disable=not enabled, transient=transient)

    def __enter__(self) -> "ProgressDisplay":
        # drawn from the first bar on: a command that fails before any work leaves no blank line
        # before its one-line error
        self._started = False
        return self

    def __exit__(self, *exc) -> None:
        if getattr(self, "_started", False):
            self._progress.stop()

    def task(self, description: str, total: Optional[float] = None) -> Task:
        """A new bar; ``total=None`` shows activity without an ETA until a total is known."""
        if not getattr(self, "_started", True):
            self._progress.start()
            self._started = True
        return Task(self, self._progress.add_task(description, total=total))

    def update(self, task: Task, completed: Optional[float] = None, *, advance: Optional[float] = None,
               total: Optional[float] = None, description: Optional[str] = None) -> None:
        self._progress.update(task.id, completed=completed, advance=advance, total=total, description=description)

    def track(self, items: Iterable[T], description: str, total: Optional[int] = None) -> Iterator[T]:
        """Iterate ``items`` while advancing a bar by one per item."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        bar = self.task(description, total)
        for item in items:
            yield item
            bar.update(advance=1)

    def step_callback(self, prefix: str = "") -> StepCallback:
        """A ``(step, done, total)`` callback (reconstruction, training): one bar per step name."""
        bars: dict[str, Task] = {}

        def callback(step: str, done: int, total: int) -> None:
            if step not in bars:
                bars[step] = self.task(prefix + step, total)
            bars[step].update(completed=done, total=total)

        return callback

    def scene_callback(self) -> SceneCallback:
        """The ``generate_scene`` callback: a bar over trajectories, and one per generator step kind
        of the current trajectory (denoising steps or frames), replaced when the next trajectory starts."""
        overall: list[Task] = []
        inner: dict[str, Task] = {}

        def callback(kind: str, name: str, i: int, n: int, what: str) -> None:
            if kind == "trajectory":
                if not overall:
                    overall.append(self.task("trajectories", n))
                label = f"trajectory {i + 1}/{n}: {name}" if i < n else "trajectories"
                overall[0].update(completed=i, description=label)
                for bar in inner.values():
                    bar.remove()
                inner.clear()
                return
            if name not in inner:
                inner[name] = self.task(f"  {name}: {what}", n)
            inner[name].update(completed=i, total=n)

        return callback
