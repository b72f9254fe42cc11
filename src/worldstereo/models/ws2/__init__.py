"""The ``ws2`` family: the authors' released WorldStereo 2.0 architecture, so that their trained checkpoints
(``worldstereo-camera``, ``worldstereo-memory``, ``worldstereo-memory-dmd``) run inside this project.

Clean-room: written from the facts in ``docs/official-checkpoints.md``; parity with the released forward
pass and samplers is tested on fixtures made by ``tools/make_ws2_fixtures.py``."""

from .config import SUBFOLDERS, VARIANTS, ControlNetConfig, Ws2Config
from .transformer import Ws2Transformer
from .weights import load_transformer

__all__ = ["SUBFOLDERS", "VARIANTS", "ControlNetConfig", "Ws2Config", "Ws2Transformer", "load_transformer"]
