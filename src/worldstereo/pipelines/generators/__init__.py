"""Generator backends behind one interface: ``tiny`` (bundled CPU model), ``wan`` (full scale from a
local directory), ``ws2`` (the authors' released WorldStereo 2.0 checkpoints) and ``warp`` (no learning:
cache render + inpainting)."""

from __future__ import annotations

from typing import Any

from .base import GenerationRequest, GenerationResult, Generator, References
from .warp import WarpGenerator

GENERATORS = ("tiny", "wan", "ws2", "warp")


def build_generator(name: str, **options: Any) -> Generator:
    """A backend by name (``auto``: whatever the ``model_dir`` holds). Options: ``model_dir``, ``device``,
    ``dtype``, ``sampler``, ``prompt`` (full scale); ws2 also ``variant``, ``base_model``, ``allow_download``."""
    if name == "warp":
        return WarpGenerator()
    if name == "ws2":
        from .ws2 import Ws2Generator

        return Ws2Generator.load(**options)
    if name in ("tiny", "wan", "auto"):
        from .model import ModelGenerator

        return ModelGenerator.load(name, **options)
    raise ValueError(f"generator {name!r} is not one of {', '.join(GENERATORS)}")


__all__ = ["GENERATORS", "GenerationRequest", "GenerationResult", "Generator", "References", "WarpGenerator",
           "build_generator"]
