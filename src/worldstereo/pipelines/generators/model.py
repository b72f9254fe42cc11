"""The learned backends: ``tiny`` (bundled CPU model) and ``wan`` (Wan2.1-I2V-14B from a local directory).

Both run ``WorldStereoModel`` with the same code: Wan I2V first-frame condition, the camera branch
fed with the Cache3D render, hole mask and Plücker rays (GGM), the SSM branch fed with retrieved
references and pointmaps, then a sampler (40-step Euler with CFG, or the 4-step DMD generator).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ...camera import plucker_rays
from ...devices import resolve_device
from .base import GenerationRequest, GenerationResult, Generator, Progress

log = logging.getLogger(__name__)

OUR_FILES = ("config.json", "backbone.safetensors")
WAN_FILES = ("transformer/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer",
             "image_encoder/config.json", "image_processor")
SAMPLERS = ("euler", "unipc", "dmd")


def _layout(model_dir: Path) -> str:
    """'ours' (save_pretrained), 'wan' (diffusers Wan I2V) or a clear error listing what is expected."""
    if not model_dir.is_dir():
        raise ValueError(f"{model_dir}: no such model directory; expected either {', '.join(OUR_FILES)} "
                         f"(worldstereo save_pretrained) or {', '.join(WAN_FILES)} (diffusers Wan2.1-I2V layout)")
    if all((model_dir / f).exists() for f in OUR_FILES):
        return "ours"
    if (model_dir / "transformer").is_dir():
        missing = [f for f in WAN_FILES if not (model_dir / f).exists()]
        if missing:
            raise ValueError(f"{model_dir}: incomplete Wan2.1-I2V directory, missing {', '.join(missing)}")
        return "wan"
    raise ValueError(f"{model_dir}: incomplete model directory; expected {', '.join(OUR_FILES)} (worldstereo) or "
                     f"{', '.join(WAN_FILES)} (diffusers Wan2.1-I2V layout)")


def estimate_memory_gb(model_dir: Path, dtype: torch.dtype) -> float:
    """Weights on the device for generation: the transformer (+ VAE), at ``dtype`` (encoders are offloaded)."""
    total = 0
    for sub in ("transformer", "vae"):
        for f in (model_dir / sub).glob("*.safetensors"):
            total += f.stat().st_size
    bytes_per = torch.finfo(dtype).bits // 8
    # files are usually fp32 (4 bytes) or bf16 (2 bytes); assume bf16 storage when the size says so
    return total / (1 << 30) * (bytes_per / 2.0)


class ModelGenerator(Generator):
    """``WorldStereoModel`` as a generator backend."""

    def __init__(self, model: Any, name: str, untrained: bool = False, device: Optional[str] = None,
                 dtype: Optional[torch.dtype] = None, sampler: Optional[str] = None,
                 text_embeds: Optional[torch.Tensor] = None, negative_text_embeds: Optional[torch.Tensor] = None,
                 image_encoder: Any = None):
        self.device = resolve_device(device)
        self.dtype = dtype or torch.float32
        self.model = model.to(self.device, self.dtype).eval()
        self.name = name
        self.untrained = untrained
        cfg = model.config
        patch = tuple(model.backbone.transformer.config.patch_size)
        self.size_multiple = model.codec.spatial_factor * patch[1]
        self.num_frames = int(cfg.num_frames)
        self.native = (int(cfg.height), int(cfg.width))
        self.sampler = sampler or getattr(cfg, "default_sampler", None) or "euler"
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        self.base_fill = getattr(cfg, "default_base_fill", None) or "telea"
        """render-residual models: how the render's holes are filled before the model corrects them, per
        frame by Telea (as in training) or by the ``warp`` backend (Telea fills reused across frames)"""
        self.text_embeds = text_embeds
        self.negative_text_embeds = negative_text_embeds
        self.image_encoder = image_encoder

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, name: str, model_dir: Optional[str | os.PathLike] = None, device: Optional[str] = None,
             dtype: Any = None, sampler: Optional[str] = None, prompt: str = "",
             max_memory_gb: Optional[float] = None, allow_random: bool = False) -> "ModelGenerator":
        from ...models import WorldStereoModel

        dtype = _dtype(dtype)
        if model_dir is None:
            raise ValueError(f"the {name} generator needs a model directory (--model-dir)")
        root = Path(model_dir)
        if not root.exists() and not allow_random:
            _layout(root)  # raises, listing the files a model directory needs
        if not root.exists():
            log.warning("no trained weights at %s: the tiny generator runs with RANDOM weights, so its frames are "
                        "noise; this exercises the plumbing only", root)
            return cls(WorldStereoModel.from_config("tiny"), "tiny", untrained=True, device=device, dtype=dtype,
                       sampler=sampler)
        layout = _layout(root)
        if layout == "ours":
            model = WorldStereoModel.from_pretrained(root)
            kind = "tiny" if model.config.name.startswith("tiny") else "wan"
            untrained = bool(json.loads((root / "config.json").read_text()).get("untrained", False))
            return cls(model, kind, untrained=untrained, device=device, dtype=dtype, sampler=sampler)
        # full scale from a diffusers-layout Wan directory
        dev = resolve_device(device)
        need = estimate_memory_gb(root, dtype)
        have = (torch.cuda.get_device_properties(dev).total_memory / (1 << 30) if dev.type == "cuda" else None)
        limit = max_memory_gb if max_memory_gb is not None else have
        log.info("Wan generator: about %.1f GiB of weights at %s on %s%s", need, dtype, dev,
                 f" ({have:.0f} GiB there)" if have else "")
        if limit is not None and need > 0.9 * limit:
            raise ValueError(f"{root}: the model needs about {need:.1f} GiB at {dtype} but {dev} has {limit:.1f} GiB; "
                             "use --dtype bfloat16 or a larger GPU")
        from ...models import CLIPImageEncoder, UMT5PromptEncoder

        text = UMT5PromptEncoder.from_pretrained(root)
        embeds, negative = text(prompt).to(dtype), text("").to(dtype)
        del text  # offloaded: the text encoder is needed only once per prompt
        image_encoder = CLIPImageEncoder.from_pretrained(root)
        model = WorldStereoModel.from_wan(root, torch_dtype=dtype)
        return cls(model, "wan", untrained=True, device=str(dev), dtype=dtype, sampler=sampler,
                   text_embeds=embeds, negative_text_embeds=negative, image_encoder=image_encoder)

    def describe(self) -> dict:
        return {"name": self.name, "untrained": self.untrained, "sampler": self.sampler,
                "num_frames": self.num_frames, "native_size": list(self.native)}

    def working_size(self, height: int, width: int, max_side: Optional[int] = None) -> tuple[int, int]:
        """The model's native pixel area, the input's aspect, rounded to the patch grid."""
        area = self.native[0] * self.native[1]
        scale = (area / float(height * width)) ** 0.5
        m = self.size_multiple
        return max(m, int(round(height * scale / m)) * m), max(m, int(round(width * scale / m)) * m)

    # -- generation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, request: GenerationRequest, progress: Optional[Progress] = None) -> GenerationResult:
        from ...models import Conditioning, build_ssm_inputs

        m, dev, dt = self.model, self.device, self.dtype
        cams = request.cameras
        n, h, w = len(cams), cams.height, cams.width

        def t(a: np.ndarray) -> torch.Tensor:  # (N, H, W, C) -> (1, C, N, H, W)
            x = torch.as_tensor(np.asarray(a, np.float32))
            x = x[..., None] if x.ndim == 3 else x
            return x.permute(3, 0, 1, 2)[None].to(dev, dt)

        first = torch.as_tensor(request.image).permute(2, 0, 1)[None].to(dev, dt)
        cond_latent, cond_mask = m.image_condition(first, n)
        cond = Conditioning(cond_latent, cond_mask, self.text_embeds, self.negative_text_embeds)
        if self.image_encoder is not None:
            cond.image_embeds = self.image_encoder(request.image[None]).to(dev, dt)
        if m.camera_branch is not None:
            rays = plucker_rays(cams, h, w).permute(1, 0, 2, 3)[None].to(dev, dt)
            cond.camera = m.camera_condition(t(request.renders), t(request.masks), rays)
        filled = None
        if m.config.x_base == "render" and self.base_fill == "warp":
            from .warp import WarpGenerator

            filled = t(WarpGenerator().generate(request).frames)
        m.add_render_base(cond, t(request.renders), t(request.masks), first, filled)
        refs = request.references
        if refs is not None and len(refs) and m.ssm_branch is not None:
            tf = m.codec.temporal_factor
            latent = torch.as_tensor((refs.target_indices + tf - 1) // tf, dtype=torch.long)
            keep = np.unique(latent.numpy(), return_index=True)[1]  # one pair per latent frame
            cond.ssm = build_ssm_inputs(m.codec, latent[keep].to(dev), t(refs.images[keep]),
                                        t(refs.target_pointmaps[keep]), t(refs.reference_pointmaps[keep]))
        gen = torch.Generator(device="cpu").manual_seed(int(request.seed))
        shape = m.codec.latent_shape(n, h, w)
        noise = torch.randn((1, *shape), generator=gen).to(dev, dt)
        steps = request.steps or (m.config.scheduler.dmd_steps if self.sampler == "dmd" else m.config.scheduler.teacher_steps)

        def callback(i: int, _x: torch.Tensor) -> None:
            if progress is not None:
                progress(i + 1, steps, "denoising step")

        latents = m.generate(cond, noise, self.sampler, steps, request.guidance, callback)
        video = m.codec.decode(latents)[0].float().clamp(0, 1).permute(1, 2, 3, 0).cpu().numpy()
        frames = video[:n].astype(np.float32)
        frames[0] = request.image  # frame 0 is the condition image itself
        info = {"sampler": self.sampler, "steps": steps, **({"base_fill": self.base_fill} if m.config.x_base == "render" else {}),
                "ssm_pairs": 0 if cond.ssm is None else int(len(cond.ssm.target_frames))}
        if m.config.x_base == "render":
            # a render-residual model's frame is the cache's render corrected, with its holes painted: the
            # cache takes it the way it takes a warp frame (soft points, trusted like warp's fills)
            depth, confidence = render_anchored_depth(frames, request)
            return GenerationResult(frames, depth, "render+inpainted", info, confidence=confidence, derived=True)
        depth, source = self._pose_head_depth(latents, cond, n, h, w)
        if depth is not None:
            depth = scale_to_render(depth, request.render_depth)
        return GenerationResult(frames, depth, source, info)

    def _pose_head_depth(self, latents: torch.Tensor, cond: Any, n: int, h: int, w: int):
        """Per-frame z-depth from the JOG3R head's own-frame pointmaps (one V2C pass on the result),
        up to one scale that the Cache3D alignment absorbs. None when the head is absent or untrained."""
        m = self.model
        if m.pose_head is None or self.untrained:
            return None, None
        pred = m.video_to_pointmaps(latents, cond, torch.zeros_like(latents))
        z = torch.cat([pred.X11[:, :1, 2], pred.Xff[:, :, 2]], dim=1)[0]  # (F', h', w'): latent frame k's depth
        tf = m.codec.temporal_factor
        idx = torch.as_tensor([(i + tf - 1) // tf for i in range(n)]).clamp(max=z.shape[0] - 1)
        depth = torch.nn.functional.interpolate(z[idx][:, None].float(), size=(h, w), mode="nearest")[:, 0]
        return depth.clamp(min=0).cpu().numpy().astype(np.float32), "pose-head"


AGREE_TOL = 0.08  # mean |frame - render| over RGB in [0, 1] below which a pixel shows what the cache rendered


def render_anchored_depth(frames: np.ndarray, request: GenerationRequest) -> tuple[np.ndarray, np.ndarray]:
    """Depth (N, H, W) and cache trust (N, H, W) of a render-residual model's frames (N, H, W, 3).

    Where a frame shows what the cache rendered (a covered pixel within ``AGREE_TOL`` of the render) the
    depth is the render's, which registers exactly; elsewhere (the holes, and covered pixels the model
    repainted) it is the far side of the nearest edge (``warp.inpaint_depth``), and the trust is warp's
    for fills (``warp.merge_confidence``: near the render 0.5, deep in a hole 0). The pose head's 16×16
    depth was the other candidate; it places new content worse than the edge's depth at this scale
    (MODEL_CARD.md), so it is used for cameras, not for the cache."""
    from .warp import inpaint_depth, merge_confidence

    depth = np.zeros(request.render_depth.shape, np.float32)
    trust = np.zeros(request.render_depth.shape, np.float32)
    for i in range(len(frames)):
        r = request.render_depth[i]
        agree = (request.masks[i] < 0.5) & (r > 0) & (np.abs(frames[i] - request.renders[i]).mean(-1) < AGREE_TOL)
        depth[i] = inpaint_depth(np.where(agree, r, 0.0).astype(np.float32), ~agree)
        trust[i] = merge_confidence(~agree)
    return depth, trust


def scale_to_render(depth: np.ndarray, render_depth: Optional[np.ndarray]) -> np.ndarray:
    """Pose-head depth is known up to scale: bring each frame to the cache's scale by the median ratio
    of the cache render's depth to it where the render has depth (the trajectory's median ratio for a
    frame the render misses), so the Cache3D alignment starts from the right scale."""
    if render_depth is None:
        return depth
    ratios = []
    for d, r in zip(depth, render_depth):
        ok = (r > 0) & (d > 0)
        ratios.append(float(np.median(r[ok] / d[ok])) if ok.sum() >= 16 else np.nan)
    ratios = np.asarray(ratios)
    if np.isnan(ratios).all():
        return depth
    ratios = np.where(np.isnan(ratios), np.nanmedian(ratios), ratios)
    return (depth * ratios[:, None, None]).astype(np.float32)


def _dtype(dtype: Any) -> torch.dtype:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype or torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if str(dtype) not in names:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(names)}")
    return names[str(dtype)]
