"""The two 3D memories: Cache3D (global-geometric, GGM) and MemoryBank with retrieval (spatial-stereo, SSM)."""

from .cache3d import AlignSettings, Cache3D, FrameAlignment
