"""A textured tilted plane seen by a moving camera: frames, cameras and exact pointmaps (tests only)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from skimage import data
from skimage.transform import resize

from worldstereo.camera import Cameras, intrinsics_from_fov

PLANE_N = np.array([0.15, -0.1, 1.0]) / np.linalg.norm([0.15, -0.1, 1.0])
PLANE_D = 3.0  # plane n·X = d in world (= frame 0 camera) coordinates


def plane_clip(num_frames: int = 5, size: int = 64, fov: float = 60.0, max_deg: float = 6.0, seed: int = 0):
    """(frames (F, H, W, 3) float32 in [0, 1], Cameras) of a textured plane; world = frame 0's camera."""
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(fov, size, size)
    world_from_cam = [np.eye(4)]
    for f in range(1, num_frames):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(np.deg2rad(max_deg * f / (num_frames - 1)) * _unit(rng)).as_matrix()
        T[:3, 3] = 0.15 * f / (num_frames - 1) * _unit(rng)
        world_from_cam.append(T)
    cams = Cameras.from_world_from_cam(np.repeat(K[None], num_frames, 0), np.stack(world_from_cam), size, size)
    texture = resize(data.astronaut().astype(np.float64) / 255, (256, 256), anti_aliasing=True)
    frames = []
    for f in range(num_frames):
        X = plane_points(cams[f], size, size)[0]  # (H·W, 3) world points
        u = np.clip((X[:, 0] / X[:, 2] * 0.9 + 0.5) * 255, 0, 255)
        v = np.clip((X[:, 1] / X[:, 2] * 0.9 + 0.5) * 255, 0, 255)
        frames.append(_bilinear(texture, v, u).reshape(size, size, 3))
    return np.stack(frames).astype(np.float32), cams


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _bilinear(img: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    r0, c0 = np.floor(r).astype(int).clip(0, img.shape[0] - 2), np.floor(c).astype(int).clip(0, img.shape[1] - 2)
    fr, fc = (r - r0)[:, None], (c - c0)[:, None]
    return ((1 - fr) * (1 - fc) * img[r0, c0] + (1 - fr) * fc * img[r0, c0 + 1]
            + fr * (1 - fc) * img[r0 + 1, c0] + fr * fc * img[r0 + 1, c0 + 1])


def plane_points(cams: Cameras, height: int, width: int) -> np.ndarray:
    """World points (N, H·W, 3) where the rays of ``cams`` (resized to H × W) hit the plane."""
    cams = cams.resized(width, height)
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pix = np.stack([jj.ravel(), ii.ravel()], -1)[None].repeat(len(cams), 0)
    far = cams.unproject(pix, np.ones(pix.shape[:2]))
    o = cams.centers[:, None]
    d = far - o
    lam = (PLANE_D - o @ PLANE_N) / (d @ PLANE_N)
    return o + lam[..., None] * d


def pointmaps(cams: Cameras, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ground-truth X11, Xf1, Xff for pairs (0, f), f = 1..F-1, each (1, F-1, 3, H, W) float32."""
    Xw = plane_points(cams, height, width)  # world = frame 0's camera
    R, t = cams.R, cams.t
    own = np.einsum("nij,npj->npi", R, Xw) + t[:, None]
    p = len(cams) - 1

    def grid(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.reshape(-1, height, width, 3).transpose(0, 3, 1, 2).astype(np.float32))[None]

    return grid(np.repeat(Xw[:1], p, 0)), grid(Xw[1:]), grid(own[1:])


def to_model(frames: np.ndarray) -> torch.Tensor:
    """(F, H, W, 3) -> (1, 3, F, H, W)."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2)[None].contiguous()


class one_thread:
    """Run torch on one thread inside the block: the CI machine's cores are shared, and oversubscribing
    them makes the small matmuls of the tiny model several times slower."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)
