"""The two 3D memories: Cache3D (global-geometric, GGM) and MemoryBank with retrieval (spatial-stereo, SSM)."""

from .bank import KEYFRAMES_21, BankFrame, MemoryBank, Retrieval, clip_keyframes, overlap_fov_score, sample_targets
from .cache3d import AlignSettings, Cache3D, FrameAlignment
from .pointmaps import encode_xyz, pointmaps, scene_bounds

__all__ = [
    "KEYFRAMES_21", "BankFrame", "MemoryBank", "Retrieval", "clip_keyframes", "overlap_fov_score", "sample_targets",
    "AlignSettings", "Cache3D", "FrameAlignment",
    "encode_xyz", "pointmaps", "scene_bounds",
]
