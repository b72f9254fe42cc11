"""``ws2``: the authors' released WorldStereo 2.0 checkpoints as a generator backend.

Loads a variant (``memory-dmd`` by default, or ``memory`` / ``camera``) from a folder in the Hugging Face
layout (``worldstereo-<variant>/{config.json, model.safetensors}``) and the auxiliaries from a diffusers-layout
Wan2.1-I2V-480P folder (VAE, CLIP vision encoder and processor, UMT5 + tokenizer, scheduler config). The
request is converted to the released conventions by ``ws2_adapter``; the frames come back in the project's.
Depth is not predicted: the scene's depth backend estimates it, as for every backend without depth.

Launched by ``torchrun`` with several processes (``WORLD_SIZE`` > 1), every process loads the whole pipeline
on its own device (``cuda:LOCAL_RANK``, or the CPU with gloo) and the transformer's token sequence is split
across them (``models/ws2/parallel.py``, diffusers' Ulysses context parallelism).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ...devices import resolve_device
from ...hub import local_folder
from .base import GenerationRequest, GenerationResult, Generator, Progress
from .ws2_adapter import camera_qt, pick_references, plucker_released, render_inputs

log = logging.getLogger(__name__)
RELEASE_ID = "hanshanxue/WorldStereo"
BASE_ID = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
BASE_PARTS = ("transformer/config.json", "vae", "image_encoder", "image_processor", "scheduler")


class Ws2Generator(Generator):
    """A loaded ws2 pipeline. Build with :meth:`load`."""

    name = "ws2"
    size_multiple = 16
    ssm_every = 1  # the release retrieves for every target keyframe (each one is a latent frame)

    def __init__(self, pipeline, prompt_embeds: torch.Tensor, negative_embeds: Optional[torch.Tensor],
                 device: torch.device, untrained: bool = False):
        self.pipeline, self.cfg = pipeline, pipeline.cfg
        self.prompt_embeds, self.negative_embeds = prompt_embeds, negative_embeds
        self.device = device
        self.num_frames = int(self.cfg.nframe)
        self.untrained = untrained

    @classmethod
    def load(cls, model_dir: str | os.PathLike, variant: str = "memory-dmd",
             base_model: Optional[str | os.PathLike] = None, device: Optional[str] = None, dtype=None,
             prompt: str = "", allow_download: bool = False, **_ignored) -> "Ws2Generator":
        from ...models.ws2 import SUBFOLDERS, VARIANTS, load_transformer
        from ...models.ws2.pipeline import Ws2Pipeline

        if variant not in VARIANTS:
            raise ValueError(f"--variant {variant!r} is not one of {', '.join(VARIANTS)}")
        root = local_folder(model_dir, "ws2 model", allow_download,
                            [f"{SUBFOLDERS[variant]}/*"] if str(model_dir) == RELEASE_ID else None)
        data = json.loads(_variant_config(root, variant).read_text())
        base_name = base_model or data.get("base_model")
        if not base_name:
            raise ValueError(f"{root}: config.json names no base_model: pass --base-model WAN_DIR")
        base = local_folder(base_name, "base model", allow_download)
        missing = [p for p in BASE_PARTS if not (base / p).exists()]
        if missing:
            raise FileNotFoundError(f"{base} lacks {', '.join(missing)}: --base-model must be a diffusers-layout "
                                    f"Wan2.1-I2V folder ({BASE_ID})")
        from ...models.ws2 import parallel

        dev = parallel.init_distributed(device) if parallel.world_size() > 1 else resolve_device(device)
        dt = _dtype(dtype, dev)
        transformer = load_transformer(root, variant, base_model=base, dtype=dt, device=dev)
        if parallel.world_size() > 1:
            parallel.enable_context_parallel(transformer, dev)
        vae, clip, processor, scheduler = _auxiliaries(base, dev, dt)
        pipe = Ws2Pipeline(transformer, vae, clip, processor, scheduler)
        embeds, negative = _prompt_embeds(base, prompt, data.get("negative_prompt", ""),
                                          int(transformer.config.text_dim), dev)
        return cls(pipe, embeds, negative, dev, untrained=bool(data.get("untrained", False)))

    def describe(self) -> dict:
        return {"name": self.name, "variant": self.cfg.variant, "untrained": self.untrained,
                "num_frames": self.num_frames, "sampler": "dmd" if self.cfg.dmd else "unipc"}

    def working_size(self, height: int, width: int, max_side: Optional[int] = None) -> tuple[int, int]:
        """The released resolution bucket whose aspect is nearest the input's (``scale_map``)."""
        buckets = self.cfg.resolutions()
        h, w = min(buckets, key=lambda hw: abs(hw[0] / hw[1] - height / width))
        return int(h), int(w)

    @torch.no_grad()
    def generate(self, request: GenerationRequest, progress: Optional[Progress] = None) -> GenerationResult:
        cams = request.cameras
        n, h, w = len(cams), cams.height, cams.width
        if n != self.num_frames:
            raise ValueError(f"the ws2 generator makes {self.num_frames} keyframes per video, the request has {n}: "
                             "let the planner resample the trajectory")
        if h % 16 or w % 16:
            raise ValueError(f"ws2 needs a working size in multiples of 16 px, got {w}x{h}")
        dev = self.device
        video, hole = render_inputs(request.image, request.renders, request.masks)
        w2c = np.asarray(cams.cam_from_world, np.float64)
        kw = {}
        if self.cfg.memory:
            pick = pick_references(request.image, w2c, request.references)
            qt, qt_ref = camera_qt(w2c, pick.cam_from_world)
            kw = dict(reference_video=_t(pick.images.transpose(3, 0, 1, 2) * 2.0 - 1.0, dev),
                      ref_index=torch.as_tensor(pick.ref_index, device=dev),
                      camera_qt=_t(qt, dev), camera_qt_ref=_t(qt_ref, dev))
        from ...models.ws2.pipeline import Ws2Inputs

        parallel = self.pipeline.transformer._parallel_config
        if parallel is not None:
            from ...models.ws2.parallel import check_divisible

            per_frame = (h // 16) * (w // 16)
            check_divisible(self.pipeline.transformer, n * per_frame,
                            int(kw["ref_index"].numel()) * per_frame if kw else 0, parallel._world_size)

        inputs = Ws2Inputs(image_u8=np.round(np.clip(request.image, 0, 1) * 255).astype(np.uint8),
                           render_video=_t(video, dev), render_mask=_t(hole, dev),
                           plucker=_t(plucker_released(cams.K, w2c, h, w), dev), prompt_embeds=self.prompt_embeds,
                           negative_prompt_embeds=self.negative_embeds, **kw)
        gen = torch.Generator(device="cpu").manual_seed(int(request.seed))
        noise = torch.randn((1, 16, n, h // 8, w // 8), generator=gen).to(dev)
        guidance = 1.0 if self.cfg.dmd else (request.guidance if request.guidance is not None else 5.0)
        if progress is not None:
            progress(0, 1, "ws2 sampling")
        latents = self.pipeline.sample(inputs, noise, steps=request.steps, guidance=guidance)
        frames = self.pipeline.decode_keyframes(latents)[0].float().permute(1, 2, 3, 0).cpu().numpy()
        frames = ((frames + 1.0) / 2.0).clip(0, 1).astype(np.float32)
        frames[0] = request.image  # frame 0 is the input image itself
        if progress is not None:
            progress(1, 1, "ws2 sampling")
        return GenerationResult(frames, info={"variant": self.cfg.variant, "references": int(
            kw["ref_index"].numel()) if kw else 0, "sampler": "dmd" if self.cfg.dmd else "unipc",
            "processes": parallel._world_size if parallel is not None else 1})


def _t(a: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A float32 array as a batch-of-one tensor on ``dev``."""
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)[None]


def _variant_config(root: Path, variant: str) -> Path:
    from ...models.ws2.weights import variant_folder

    return variant_folder(root, variant) / "config.json"


def _dtype(dtype, dev: torch.device) -> torch.dtype:
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype is None:
        return torch.bfloat16 if dev.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if str(dtype) not in names:
        raise ValueError(f"--dtype {dtype!r} is not one of {', '.join(names)}")
    return names[str(dtype)]


def _auxiliaries(base: Path, dev: torch.device, dtype: torch.dtype):
    """VAE (half on GPU, with slicing and tiling), CLIP vision encoder in float32 and its processor opened
    with ``do_rescale=False`` (the release feeds it 0-255 pixels), and the scheduler config."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import CLIPImageProcessor, CLIPVisionModel

    vae = AutoencoderKLWan.from_pretrained(base / "vae", torch_dtype=dtype).to(dev).eval()
    if dev.type == "cuda":
        vae.enable_slicing()
        vae.enable_tiling()
    clip = OffloadedModule(CLIPVisionModel.from_pretrained(base / "image_encoder", torch_dtype=torch.float32).eval(),
                           dev)
    processor = CLIPImageProcessor.from_pretrained(base / "image_processor", do_rescale=False)
    scheduler = UniPCMultistepScheduler.from_pretrained(base / "scheduler")
    return vae, clip, processor, scheduler


class OffloadedModule:
    """A module that lives on the CPU and visits the accelerator only for its call (model CPU offload)."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.module, self.target = module, device

    @property
    def device(self) -> torch.device:
        return self.target

    def __call__(self, *args, **kwargs):
        ctx = contextlib.nullcontext() if self.target.type == "cpu" else _visiting(self.module, self.target)
        with ctx:
            return self.module(*args, **kwargs)


@contextlib.contextmanager
def _visiting(module: torch.nn.Module, device: torch.device):
    module.to(device)
    try:
        yield
    finally:
        module.to("cpu")
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _prompt_embeds(base: Path, prompt: str, negative: str, text_dim: int, dev: torch.device) -> tuple:
    """UMT5 embeddings of the prompt and the negative prompt, computed once on the CPU (the 5.7B encoder
    never occupies the accelerator); zeros (no text) when the base folder has no text encoder."""
    if not ((base / "text_encoder").is_dir() and (base / "tokenizer").is_dir()):
        log.warning("ws2: %s has no text_encoder/tokenizer: generating without text conditioning", base)
        zeros = torch.zeros(1, 512, text_dim, device=dev)
        return zeros, zeros
    from ...models import UMT5PromptEncoder

    text = UMT5PromptEncoder.from_pretrained(base)
    embeds, neg = text(prompt), text(negative)
    return embeds.to(dev), neg.to(dev)
