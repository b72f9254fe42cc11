import numpy as np
import pytest

from worldstereo.camera import Cameras, intrinsics_from_fov
from worldstereo.camera.transforms import rigid
from scipy.spatial.transform import Rotation


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_cameras(rng: np.random.Generator, n: int = 5, width: int = 64, height: int = 48, per_frame_K: bool = True) -> Cameras:
    """Cameras with random rotations/translations and (optionally) per-frame intrinsics."""
    Ts = np.stack([rigid(Rotation.random(random_state=rng.integers(1 << 31)).as_matrix(), rng.normal(size=3)) for _ in range(n)])
    if per_frame_K:
        Ks = []
        for _ in range(n):
            K = intrinsics_from_fov(rng.uniform(40, 90), width, height)
            K[1, 1] *= rng.uniform(0.9, 1.1)
            K[0, 2] += rng.uniform(-3, 3)
            K[1, 2] += rng.uniform(-3, 3)
            Ks.append(K)
        K = np.stack(Ks)
    else:
        K = intrinsics_from_fov(60, width, height)
    return Cameras(K, Ts, width, height)
