"""Configuration of the authors' released WorldStereo 2.0 checkpoints (the ``ws2`` family).

A released variant folder holds ``config.json`` + ``model.safetensors``; the Wan2.1-I2V backbone shape comes
from the base model's ``transformer/config.json``. Field names follow the released ``config.json`` so a file
can be read as is; defaults are the ones the released code applies when a key is absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

VARIANTS = ("camera", "memory", "memory-dmd")
SUBFOLDERS = {v: f"worldstereo-{v}" for v in VARIANTS}

# the Wan2.1-I2V-14B transformer (diffusers layout), used when no base transformer config is given
WAN_I2V_14B = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36,
                   out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
                   cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280,
                   added_kv_proj_dim=5120, rope_max_seq_len=1024, pos_embed_seq_len=None)
WAN_KEYS = tuple(WAN_I2V_14B)


@dataclass
class ControlNetConfig:
    """``controlnet_cfg`` of a released ``config.json``."""

    dim: int = 1024
    """hidden width of the ControlNet blocks"""
    ffn_dim: int = 4096
    """width of the ControlNet feed-forward"""
    num_heads: int = 16
    """attention heads of the ControlNet (head dim = dim // num_heads)"""
    num_layers: int = 20
    """ControlNet blocks; their residuals go into DiT blocks 0 .. num_layers-1"""
    conv_out_dim: int = 5120
    """output width of the ControlNet patch embedding and mask stem (= backbone width)"""
    time_embed_dim: int = 5120
    """width of the backbone's time embedding fed to the ControlNet modulations"""
    add_channels: int = 7
    """channels of the full-resolution stem input: 1 hole mask + 6 Plücker"""
    mid_channels: int = 256
    """hidden channels of the mask stem (GroupNorm with mid_channels // 8 groups)"""
    mask_downsample: int = 1
    """temporal kernel and stride of the mask stem (1 for keyframe models)"""
    interp: bool = False
    """front+back padding variant of the stem (only read when mask_downsample > 1)"""
    main_camera_embedding: bool = False
    """memory models: add an MLP embedding of the 7-value camera to every token of its frame"""
    camera_embedding_dim: int = 7
    """input width of that MLP (quaternion w,x,y,z + w2c translation)"""
    ref_embedding: bool = False
    """memory models: an (unused in the forward) embedding table of reference indices"""
    update_ref: bool = True
    """memory models: reference tokens carry their state from block to block (else block 0's input)"""

    @classmethod
    def from_dict(cls, data: dict) -> "ControlNetConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Ws2Config:
    """Top level of a released ``config.json`` plus the variant (the folder name decides it, as upstream)."""

    variant: str
    controlnet: ControlNetConfig
    base_model: str = ""
    """the base Wan2.1-I2V model named by the release (a hub id); ``base_model=`` overrides it"""
    nframe: int = 21
    """keyframes per video; longer camera lists are subsampled with linspace(0, N-1, nframe)"""
    scale_map: Optional[list] = None
    """(H, W) resolution buckets; None = the released code's default list"""
    latent_cond_mode: str = "first_frame_only"
    """condition latent: ``first_frame_only`` (keyframe) or ``full_vae`` (causal video encode)"""
    negative_prompt: str = ""
    dmd_start_steps: int = 250
    dmd_end_steps: int = 1000
    dmd_steps: int = 4
    gen_shift: float = 1.0
    wan: dict = field(default_factory=lambda: dict(WAN_I2V_14B))
    """the backbone's WanTransformer3DModel arguments"""

    @property
    def memory(self) -> bool:
        return self.variant != "camera"

    @property
    def dmd(self) -> bool:
        return self.variant == "memory-dmd"

    @property
    def inner_dim(self) -> int:
        return int(self.wan["num_attention_heads"]) * int(self.wan["attention_head_dim"])

    def resolutions(self) -> list:
        return [list(x) for x in (self.scale_map or DEFAULT_SCALE_MAP)]

    @classmethod
    def from_dict(cls, data: dict, variant: str, wan: Optional[dict] = None) -> "Ws2Config":
        if variant not in VARIANTS:
            raise ValueError(f"ws2 variant {variant!r} is not one of {', '.join(VARIANTS)}")
        if not isinstance(data.get("controlnet_cfg"), dict):
            raise ValueError("ws2 config.json has no 'controlnet_cfg' object: is this a WorldStereo 2.0 folder?")
        top = {k: data[k] for k in ("base_model", "nframe", "scale_map", "latent_cond_mode", "negative_prompt",
                                    "dmd_start_steps", "dmd_end_steps", "dmd_steps", "gen_shift") if k in data}
        full_wan = dict(WAN_I2V_14B)
        full_wan.update({k: v for k, v in (wan or {}).items() if k in WAN_KEYS})
        full_wan["patch_size"] = tuple(full_wan["patch_size"])
        return cls(variant=variant, controlnet=ControlNetConfig.from_dict(data["controlnet_cfg"]), wan=full_wan,
                   **top)

    @classmethod
    def from_files(cls, config_json: Path, variant: str, wan_json: Optional[Path] = None) -> "Ws2Config":
        data = _read_json(config_json)
        wan = _read_json(wan_json) if wan_json is not None else None
        return cls.from_dict(data, variant, wan)


DEFAULT_SCALE_MAP = [[480, 768], [512, 720], [576, 640], [608, 608], [640, 576], [720, 512], [768, 480]]


def _read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: download the file or pass the folder that holds it")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}): re-download it") from None
