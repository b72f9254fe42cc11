"""Depth-model processing that transformers only offers through torchvision, which DESIGN §7 rules
out: Depth Pro's processor, and ZoeDepth's post-processing (its PIL processor still calls torchvision).

Depth Pro follows the processor's published contract: resize to ``size`` (bilinear), rescale, normalise;
the model predicts a canonical inverse depth and a horizontal field of view; the focal length in
pixels of a W-wide target is ``0.5 W / tan(fov / 2)`` and the metric depth is
``f_px / (W * canonical_inverse_depth)``, clamped as the processor does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class DepthProProcessor:
    height: int
    width: int
    rescale: float = 1 / 255
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)

    @classmethod
    def from_folder(cls, folder: Path) -> "DepthProProcessor":
        cfg = json.loads((Path(folder) / "preprocessor_config.json").read_text(encoding="utf-8"))
        size = cfg.get("size", {"height": 1536, "width": 1536})
        return cls(int(size["height"]), int(size["width"]), float(cfg.get("rescale_factor", 1 / 255)),
                   tuple(cfg.get("image_mean", (0.5,) * 3)), tuple(cfg.get("image_std", (0.5,) * 3)))

    def __call__(self, images: np.ndarray, return_tensors: str = "pt") -> dict:
        """(H, W, 3) uint8 -> {"pixel_values": (1, 3, height, width) float32}."""
        import torch

        x = torch.from_numpy(np.asarray(images, dtype=np.float32) * self.rescale).permute(2, 0, 1)[None]
        x = torch.nn.functional.interpolate(x, size=(self.height, self.width), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        return {"pixel_values": (x - mean) / std}

    def post_process_depth_estimation(self, outputs: Any, target_sizes: list[tuple[int, int]]) -> list[dict]:
        """Per image: metric depth (H, W) at its target size and the focal length in pixels."""
        import torch

        results = []
        for inv, fov, (h, w) in zip(outputs.predicted_depth, outputs.field_of_view, target_sizes):
            focal = 0.5 * w / torch.tan(0.5 * torch.deg2rad(fov))
            inv = torch.nn.functional.interpolate((inv * w / focal)[None, None], size=(h, w), mode="bilinear",
                                                  align_corners=False)[0, 0]
            results.append({"predicted_depth": 1.0 / torch.clamp(inv, 1e-4, 1e4), "focal_length": focal})
        return results


# ZoeDepth pads its input by sqrt(side / 2) * 3 pixels per side to avoid border artefacts.
ZOE_PADDING_FACTOR = 3


def zoedepth_postprocess(predicted_depth: Any, size: tuple[int, int], remove_padding: bool = True) -> np.ndarray:
    """ZoeDepth output (1, h, w) -> metric depth (H, W) at ``size``: the padding the processor added
    is cropped after resizing to the padded source size, as transformers' processor does."""
    import torch

    h, w = size
    ph = int(np.sqrt(h / 2) * ZOE_PADDING_FACTOR) if remove_padding else 0
    pw = int(np.sqrt(w / 2) * ZOE_PADDING_FACTOR) if remove_padding else 0
    d = torch.as_tensor(predicted_depth, dtype=torch.float32).reshape(1, 1, *predicted_depth.shape[-2:])
    d = torch.nn.functional.interpolate(d, size=(h + 2 * ph, w + 2 * pw), mode="bicubic", align_corners=False)
    return d[0, 0, ph:ph + h, pw:pw + w].numpy()
