"""What the pipeline can actually run: the bounds every numeric option is checked against at the edge.

Options are checked before any folder is created or any model is loaded, so a bad value costs
nothing and leaves nothing behind. Each bound says why it is where it is:

- ``max_side`` >= 32: below that a view holds too few pixels for the cache to register a frame and
  for SSIM's 11-pixel window; <= 4096: beyond that one frame's float buffers alone pass a GiB.
- a working size whose short side is under 16 px is refused (very elongated inputs at a small
  ``max_side``) for the same reason.
- frames per trajectory: >= 2 (a video moves) and at most :func:`max_frames`, the smaller of the
  generator's own capacity and what this machine's memory holds at the working size.
- ``steps`` 1..1000, ``fps`` (0, 240], ``seed`` 0..2**63-1.
"""

from __future__ import annotations

import os
from typing import Optional

MIN_MAX_SIDE = 32
MAX_MAX_SIDE = 4096
MIN_SHORT_SIDE = 16
MIN_FRAMES = 2
#: no generator here was trained on longer clips than Wan's 81 frames; three times that is the most
#: a backend without a fixed length (warp) is asked for in one trajectory
MAX_FRAMES = 243
MAX_STEPS = 1000
#: --plan auto's trajectory budget at most: each step re-plans over ~200 candidates (seconds each)
MAX_PLAN_BUDGET = 32
MAX_FPS = 240.0
#: bytes the pipeline holds per frame pixel (frames, renders, masks, depth, xyz, pointmaps, copies)
BYTES_PER_PIXEL_FRAME = 160
#: share of the machine's memory one trajectory may plan for
MEMORY_SHARE = 0.25


class LimitError(ValueError):
    """An option outside what the pipeline can run; the message names the option and the range."""


def _int(value: object, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if float(value) != int(value):  # type: ignore[arg-type]
                raise ValueError
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise LimitError(f"{option}: must be a whole number, got {value!r}") from None
    return value


def check_range(value: object, option: str, low: int, high: int, why: str = "") -> int:
    """``value`` as an int in [low, high], else a one-line :class:`LimitError`."""
    v = _int(value, option)
    if not low <= v <= high:
        raise LimitError(f"{option}: {v} is outside {low}..{high}{'; ' + why if why else ''}")
    return v


def check_max_side(max_side: Optional[int]) -> Optional[int]:
    if max_side is None:
        return None
    return check_range(max_side, "--max-side", MIN_MAX_SIDE, MAX_MAX_SIDE,
                       "a smaller view leaves too few pixels to register frames, a larger one will not fit in memory")


def check_working_size(height: int, width: int, max_side: Optional[int]) -> None:
    if min(height, width) < MIN_SHORT_SIDE:
        raise LimitError(f"--max-side {max_side}: the working size would be {width}x{height}, under {MIN_SHORT_SIDE} px "
                         f"on its short side; raise --max-side to at least "
                         f"{int(MIN_SHORT_SIDE * max(height, width) / max(1, min(height, width))) + 1}")


def machine_memory() -> int:
    """Physical memory in bytes (0 where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def max_frames(height: int, width: int, generator_frames: Optional[int] = None) -> int:
    """The most frames one trajectory may have at ``height x width`` on this machine."""
    if generator_frames:
        return int(generator_frames)
    mem = machine_memory()
    by_memory = int(mem * MEMORY_SHARE // (BYTES_PER_PIXEL_FRAME * height * width)) if mem else MAX_FRAMES
    return max(MIN_FRAMES, min(MAX_FRAMES, by_memory))


def check_frames(frames: Optional[int], height: int, width: int, generator_frames: Optional[int] = None,
                 option: str = "--frames") -> Optional[int]:
    if frames is None:
        return None
    top = max_frames(height, width, generator_frames)
    return check_range(frames, option, MIN_FRAMES, top,
                       f"the generator and this machine's memory take at most {top} frames at {width}x{height}")


def check_steps(steps: Optional[int]) -> Optional[int]:
    return None if steps is None else check_range(steps, "--steps", 1, MAX_STEPS)


def check_seed(seed: int) -> int:
    return check_range(seed, "--seed", 0, 2**63 - 1)
