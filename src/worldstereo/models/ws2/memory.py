"""Accelerator-memory estimate of one ws2 video, without loading anything.

Weights are counted exactly (the model is built on the meta device, cast as for inference: half-precision
backbone, float32 for the modules the release keeps in float32). Activations are an upper estimate of the
largest live set during one transformer call with a memory-efficient attention kernel (no L×L matrix):
the residual stream in float32 and half, q/k/v, the feed-forward's hidden layer twice (before and after
GELU), the ControlNet's stream and one of its residuals (they are made block by block), and the
full-resolution Plücker + mask input. The VAE decodes one keyframe
at a time (tiled), the text encoder never visits the accelerator, and the CLIP encoder visits it once
before sampling (counted as a separate peak).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .config import Ws2Config

GIB = float(1 << 30)
CLIP_H14_PARAMS = 632_076_800  # CLIP ViT-H/14 vision tower of Wan2.1-I2V, float32
VAE_PARAMS = 126_892_531  # Wan2.1 VAE
VAE_DECODE_GIB = 3.0  # one 480x832 keyframe through the tiled Wan VAE decoder (measured figure not available)


@dataclass
class MemoryEstimate:
    weights_gib: float
    """transformer weights on the accelerator"""
    activations_gib: float
    """largest live activation set of one transformer call"""
    vae_gib: float
    clip_visit_gib: float
    """CLIP in float32 while it encodes the first frame (before sampling)"""
    peak_gib: float
    tokens: int
    reference_tokens: int

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def weight_bytes(cfg: Ws2Config, dtype: torch.dtype = torch.bfloat16) -> int:
    from .transformer import Ws2Transformer
    from .weights import cast_for_inference

    with torch.device("meta"):
        model = Ws2Transformer.from_config_ws2(cfg)
    cast_for_inference(model, dtype)
    return sum(p.numel() * p.element_size() for p in model.parameters())


def estimate(cfg: Ws2Config, height: int, width: int, frames: int | None = None, references: int = 8,
             dtype: torch.dtype = torch.bfloat16) -> MemoryEstimate:
    """Peak accelerator memory (GiB) of one video at ``height`` × ``width`` with ``frames`` keyframes."""
    frames = int(frames or cfg.nframe)
    half = torch.finfo(dtype).bits // 8
    per_frame = (height // 16) * (width // 16)
    tokens = frames * per_frame
    refs = references * per_frame if cfg.memory else 0
    seq = tokens + refs
    d, ffn = cfg.inner_dim, int(cfg.wan["ffn_dim"])
    c = cfg.controlnet
    stream = seq * d * (4 + 4 + half)  # float32 residual + float32 norm output + half copy
    qkv = 3 * seq * d * half + seq * d * half  # q, k, v and the attention output
    ffn_live = 2 * seq * ffn * half
    # ControlNet stream + its feed-forward + one residual (residuals are made block by block)
    control = tokens * (3 * c.dim + c.ffn_dim) * 4 + tokens * d * half
    stem = frames * height * width * (1 + 6) * 4 + frames * (height // 8) * (width // 8) * 16 * 4 * 4
    act = stream + max(qkv, ffn_live) + control + stem
    w = weight_bytes(cfg, dtype)
    vae = VAE_PARAMS * half / GIB + VAE_DECODE_GIB
    clip = CLIP_H14_PARAMS * 4 / GIB
    peak = max(w / GIB + act / GIB + VAE_PARAMS * half / GIB, w / GIB + vae, w / GIB + clip + VAE_PARAMS * half / GIB)
    return MemoryEstimate(w / GIB, act / GIB, vae, clip, peak, tokens, refs)
