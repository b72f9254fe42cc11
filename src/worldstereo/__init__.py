"""worldstereo: camera-guided, 3D-consistent video generation and scene reconstruction."""

__version__ = "0.1.0"
