"""worldstereo: camera-guided, 3D-consistent video generation and scene reconstruction."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["WorldStereo", "__version__"]


def __getattr__(name: str) -> Any:
    # the pipeline pulls in torch and the models; importing the package alone stays light
    if name == "WorldStereo":
        from .pipelines.api import WorldStereo

        return WorldStereo
    raise AttributeError(f"module 'worldstereo' has no attribute {name!r}")
