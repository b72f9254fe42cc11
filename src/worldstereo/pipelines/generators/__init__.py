"""Generator backends behind one interface: ``tiny`` (bundled CPU model), ``wan`` (full scale from a
local directory) and ``warp`` (no learning: cache render + inpainting)."""

from __future__ import annotations

from typing import Any

from .base import GenerationRequest, GenerationResult, Generator, References
from .warp import WarpGenerator

GENERATORS = ("tiny", "wan", "warp")


def build_generator(name: str, **options: Any) -> Generator:
    """A backend by name. Options: ``model_dir`` (wan, or tiny weights elsewhere), ``device``, ``dtype``."""
    if name == "warp":
        return WarpGenerator()
    if name in ("tiny", "wan"):
        from .model import ModelGenerator

        return ModelGenerator.load(name, **options)
    raise ValueError(f"generator {name!r} is not one of {', '.join(GENERATORS)}")


__all__ = ["GENERATORS", "GenerationRequest", "GenerationResult", "Generator", "References", "WarpGenerator",
           "build_generator"]
