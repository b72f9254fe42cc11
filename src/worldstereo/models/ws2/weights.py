"""Reading a released ws2 variant folder into a :class:`Ws2Transformer`, strictly.

Every key of the file must be a parameter of the model and vice versa, with the same shape. A file without
backbone keys (a partial release) is accepted only when a base transformer folder fills exactly those keys.
Errors are one line: what, where, how to fix.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import torch
from safetensors import safe_open

from .config import SUBFOLDERS, Ws2Config
from .transformer import Ws2Transformer

log = logging.getLogger(__name__)
NEW_PREFIXES = ("controlnet.", "camera_embedding.", "ref_index_embedding.")


def file_header(path: Path) -> dict:
    """{key: (shape, dtype)} of a safetensors file, without reading tensors."""
    with safe_open(str(path), framework="pt") as f:
        out = {}
        for key in f.keys():
            sl = f.get_slice(key)
            out[key] = (tuple(sl.get_shape()), sl.get_dtype())
    return out


def check_keys(model: torch.nn.Module, header: dict, where: Path, allow_missing_backbone: bool = False) -> list:
    """Compare a file header with the model's state dict; raise one line on the first problem.
    Returns the missing backbone keys (allowed only with ``allow_missing_backbone``)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    unexpected = sorted(set(header) - set(expected))
    if unexpected:
        raise ValueError(f"{where} has {len(unexpected)} keys this ws2 variant does not have (first: "
                         f"{unexpected[0]}): is it another variant? pass the matching --variant")
    for key, (shape, _) in header.items():
        if tuple(shape) != expected[key]:
            raise ValueError(f"{where}: {key} has shape {list(shape)}, the config gives {list(expected[key])}: "
                             "the config.json and model.safetensors do not belong together, or the base "
                             "transformer config is not Wan2.1-I2V-14B")
    missing = sorted(set(expected) - set(header))
    new_missing = [k for k in missing if k.startswith(NEW_PREFIXES)]
    if new_missing or (missing and not allow_missing_backbone):
        raise ValueError(f"{where} lacks {len(missing)} keys (first: {(new_missing or missing)[0]}): the download "
                         "is incomplete or belongs to another variant; re-download it")
    return missing


def load_state(model: torch.nn.Module, path: Path, dtype: Optional[torch.dtype] = None,
               keys: Optional[list] = None) -> None:
    """Copy tensors from ``path`` into ``model`` (all, or only ``keys``), keeping each parameter's dtype."""
    params = dict(model.named_parameters())
    with safe_open(str(path), framework="pt") as f, torch.no_grad():
        for key in (keys if keys is not None else f.keys()):
            p = params[key]
            p.copy_(f.get_tensor(key).to(p.dtype))


def variant_folder(root: Path, variant: str) -> Path:
    """``root`` is either the release folder (holding ``worldstereo-<variant>/``) or a variant folder."""
    root = Path(root)
    for cand in (root / SUBFOLDERS.get(variant, variant), root):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    raise FileNotFoundError(f"no {SUBFOLDERS.get(variant, variant)}/config.json + model.safetensors under {root}: "
                            "download the variant (hanshanxue/WorldStereo) or pass its folder")


def load_transformer(folder: Path, variant: str, base_model: Optional[Path] = None,
                     dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Ws2Transformer:
    """Build the variant from its ``config.json`` (+ the base's ``transformer/config.json``) and load it.

    The model is built on the meta device and materialised once, in its final dtypes, on ``device``: a
    14B model never exists in float32 in host memory."""
    folder = variant_folder(folder, variant)
    wan_json = Path(base_model) / "transformer" / "config.json" if base_model is not None else None
    if wan_json is not None and not wan_json.is_file():
        raise FileNotFoundError(f"{wan_json} does not exist: --base-model must be a diffusers-layout "
                                "Wan2.1-I2V folder (transformer/, vae/, image_encoder/, ...)")
    cfg = Ws2Config.from_files(folder / "config.json", variant, wan_json)
    with torch.device("meta"):
        model = Ws2Transformer.from_config_ws2(cfg)
    weights = folder / "model.safetensors"
    missing = check_keys(model, file_header(weights), weights, allow_missing_backbone=True)
    cast_for_inference(model, dtype)
    model.to_empty(device=device)
    _recompute_buffers(model, device)
    if missing:
        _fill_backbone(model, base_model, missing, weights)
    load_state(model, weights)
    return model.eval()


def _recompute_buffers(model: Ws2Transformer, device) -> None:
    # the RoPE tables are non-persistent: rebuild them on the real device
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    for name in ("rope", "controlnet_rope"):
        old = getattr(model, name)
        setattr(model, name, WanRotaryPosEmbed(old.attention_head_dim, old.patch_size, old.max_seq_len).to(device))


def _fill_backbone(model: Ws2Transformer, base_model: Optional[Path], missing: list, where: Path) -> None:
    if base_model is None:
        raise ValueError(f"{where} lacks {len(missing)} backbone keys (first: {missing[0]}): pass --base-model "
                         "with the Wan2.1-I2V folder whose transformer weights fill them")
    shards = sorted((Path(base_model) / "transformer").glob("*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no *.safetensors in {Path(base_model) / 'transformer'}: the base transformer "
                                f"weights are needed because {where.name} holds only part of the backbone")
    todo = set(missing)
    for shard in shards:
        keys = [k for k in file_header(shard) if k in todo]
        load_state(model, shard, keys=keys)
        todo -= set(keys)
    if todo:
        raise ValueError(f"{sorted(todo)[0]} is in neither {where} nor the base transformer shards: "
                         "the base model is not Wan2.1-I2V-14B")
    log.info("ws2: %d backbone tensors taken from the base model", len(missing))


def cast_for_inference(model: Ws2Transformer, dtype: torch.dtype) -> None:
    """Half precision for the backbone, float32 for the modules the release keeps in float32."""
    if dtype == torch.float32:
        model.float()
        return
    for name, module in model.named_modules():
        if not name:
            continue
        top = name.split(".")
        keep = any(part in ("time_embedder", "norm1", "norm2", "norm3") for part in top) or top[0] in (
            "controlnet", "camera_embedding")
        if not any(True for _ in module.children()):
            module.to(torch.float32 if keep else dtype)
    model.scale_shift_table.data = model.scale_shift_table.data.float()
    for block in model.blocks:
        block.scale_shift_table.data = block.scale_shift_table.data.float()


def read_config(folder: Path, variant: str) -> dict:
    return json.loads((variant_folder(folder, variant) / "config.json").read_text())
