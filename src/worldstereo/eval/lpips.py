"""LPIPS (Zhang et al. 2018, AlexNet variant) from weights the user supplies locally.

Nothing is downloaded: without weights LPIPS is reported as unavailable, never approximated.
The weights are the two files the reference implementation uses: torchvision's AlexNet state dict
(keys ``features.{0,3,6,8,10}.{weight,bias}``) and the LPIPS linear heads (keys
``lin{0..4}.model.1.weight``), as ``.pth`` (read with ``weights_only=True``) or ``.safetensors``,
either both in one file or as two files in one folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_CONV = ((3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1))
_FEATURE_IDS = (0, 3, 6, 8, 10)  # torchvision's indices of the five convolutions in AlexNet.features
# The reference implementation's input scaling layer (ImageNet statistics in [-1, 1] units).
_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


class LPIPSAlex(nn.Module):
    """AlexNet features at relu1..relu5, unit-normalised per channel, weighted by 1x1 heads, averaged."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, s, p) for i, o, k, s, p in _CONV)
        self.lins = nn.ModuleList(nn.Conv2d(o, 1, 1, bias=False) for _, o, _, _, _ in _CONV)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: (B, 3, H, W) in [0, 1] -> (B,) distances."""
        fx, fy = self._features(x), self._features(y)
        total = 0.0
        for lin, a, b in zip(self.lins, fx, fy):
            a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            total = total + lin((a - b) ** 2).mean(dim=(1, 2, 3))
        return total

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((2 * x - 1) - _SHIFT.to(x)) / _SCALE.to(x)
        out = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(conv(h))
            out.append(h)
        return out

    def load_reference_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load torchvision AlexNet + LPIPS head keys into this module; missing keys raise."""
        mapped = {}
        for k, idx in enumerate(_FEATURE_IDS):
            for p in ("weight", "bias"):
                mapped[f"convs.{k}.{p}"] = state.get(f"features.{idx}.{p}")
            mapped[f"lins.{k}.weight"] = state.get(f"lin{k}.model.1.weight")
        missing = [k for k, v in mapped.items() if v is None]
        if missing:
            raise ValueError(f"LPIPS weights: missing {len(missing)} tensors (e.g. {missing[0]}); expected torchvision "
                             "AlexNet keys features.N.* and LPIPS keys linN.model.1.weight")
        self.load_state_dict(mapped)


def _read(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_lpips(weights: str | Path) -> LPIPSAlex:
    """An LPIPS network from a weights file or a folder of weight files (see module docstring)."""
    weights = Path(weights)
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: no LPIPS weights there; pass a local AlexNet + LPIPS weights file or folder")
    files = sorted(p for p in weights.iterdir() if p.suffix in (".pth", ".pt", ".safetensors")) if weights.is_dir() else [weights]
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(_read(f))
    net = LPIPSAlex()
    net.load_reference_state(state)
    return net.eval()


@torch.no_grad()
def lpips(a: Any, b: Any, net: LPIPSAlex, batch: int = 8) -> float:
    """Mean LPIPS over frames of images (H, W, 3) or (F, H, W, 3) in [0, 1]."""
    x = torch.as_tensor(np.asarray(a), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(b), dtype=torch.float32)
    if x.shape != y.shape:
        raise ValueError(f"lpips: images differ in shape {tuple(x.shape)} vs {tuple(y.shape)}")
    x = (x[None] if x.ndim == 3 else x).permute(0, 3, 1, 2)
    y = (y[None] if y.ndim == 3 else y).permute(0, 3, 1, 2)
    d = torch.cat([net(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)])
    return float(d.mean())
