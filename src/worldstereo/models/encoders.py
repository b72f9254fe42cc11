"""Full-scale conditioning encoders: UMT5 prompt embeddings and CLIP image tokens, as Wan's I2V pipeline makes them.

Both load from a local diffusers-layout Wan directory (``text_encoder/`` + ``tokenizer/``,
``image_encoder/`` + ``image_processor/``) with ``local_files_only=True``; nothing is downloaded.
The tiny scale needs neither (learned prompt/null embeddings, no image tokens).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _subfolder(model_dir: str | Path, name: str) -> str:
    path = Path(model_dir) / name
    if not path.is_dir():
        raise ValueError(f"{model_dir} has no {name}/ folder; point --model-dir at a diffusers-layout Wan I2V directory")
    return str(path)


class UMT5PromptEncoder:
    """Prompts -> (B, max_length, text_dim) UMT5 states, zero beyond each prompt's tokens (Wan's layout)."""

    def __init__(self, text_encoder: torch.nn.Module, tokenizer, max_length: int = 512):
        self.text_encoder = text_encoder.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, torch_dtype: torch.dtype = torch.float32,
                        max_length: int = 512) -> "UMT5PromptEncoder":
        from transformers import AutoTokenizer, UMT5EncoderModel

        encoder = UMT5EncoderModel.from_pretrained(_subfolder(model_dir, "text_encoder"), local_files_only=True,
                                                   torch_dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(_subfolder(model_dir, "tokenizer"), local_files_only=True)
        logger.info("loaded UMT5 text encoder from %s", model_dir)
        return cls(encoder, tokenizer, max_length)

    @torch.no_grad()
    def __call__(self, prompts: str | list[str]) -> torch.Tensor:
        from diffusers.pipelines.wan.pipeline_wan_i2v import prompt_clean

        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        tokens = self.tokenizer([prompt_clean(p) for p in prompts], padding="max_length", max_length=self.max_length,
                                truncation=True, add_special_tokens=True, return_attention_mask=True,
                                return_tensors="pt")
        device = next(self.text_encoder.parameters()).device
        mask = tokens.attention_mask.to(device)
        states = self.text_encoder(tokens.input_ids.to(device), mask).last_hidden_state
        # Wan zeroes the padded positions rather than keeping the encoder's states there
        return states * mask[..., None].to(states.dtype)


class CLIPImageEncoder:
    """Images (B, H, W, 3) in [0, 1] -> (B, 257, image_dim) CLIP tokens (penultimate layer, as Wan uses)."""

    def __init__(self, image_encoder: torch.nn.Module, image_processor):
        self.image_encoder = image_encoder.eval()
        self.image_processor = image_processor

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, torch_dtype: torch.dtype = torch.float32) -> "CLIPImageEncoder":
        from transformers import CLIPImageProcessor, CLIPVisionModel

        encoder = CLIPVisionModel.from_pretrained(_subfolder(model_dir, "image_encoder"), local_files_only=True,
                                                  torch_dtype=torch_dtype)
        processor = CLIPImageProcessor.from_pretrained(_subfolder(model_dir, "image_processor"), local_files_only=True)
        logger.info("loaded CLIP image encoder from %s", model_dir)
        return cls(encoder, processor)

    @torch.no_grad()
    def __call__(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        images = torch.as_tensor(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"CLIP image encoder expects (B, H, W, 3) images in [0, 1], got {tuple(images.shape)}")
        inputs = self.image_processor(images=list(images.float().cpu().numpy()), do_rescale=False, return_tensors="pt")
        param = next(self.image_encoder.parameters())
        out = self.image_encoder(pixel_values=inputs.pixel_values.to(param.device, param.dtype),
                                 output_hidden_states=True)
        return out.hidden_states[-2]
