"""Generator backends behind one interface: ``tiny`` (bundled CPU model), ``wan`` (full scale from a
local directory) and ``warp`` (no learning: cache render + inpainting)."""

from __future__ import annotations

from typing import Any

from .base import GenerationRequest, GenerationResult, Generator, References
from .warp import WarpGenerator

GENERATORS = ("tiny", "wan", "warp")


def build_generator(name: str, **options: Any) -> Generator:
    """A backend by name (``auto``: whatever the ``model_dir`` holds). Options: ``model_dir``, ``device``,
    ``dtype``, ``sampler``, ``prompt`` (full scale)."""
    if name == "warp":
        return WarpGenerator()
    if name in ("tiny", "wan", "auto"):
        from .model import ModelGenerator

        return ModelGenerator.load(name, **options)
    raise ValueError(f"generator {name!r} is not one of {', '.join(GENERATORS)}")


__all__ = ["GENERATORS", "GenerationRequest", "GenerationResult", "Generator", "References", "WarpGenerator",
           "build_generator"]
