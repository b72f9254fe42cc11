"""ws2 transformers: released key names and shapes, strict loading, and parity with the released forward
pass on the fixtures written by tools/make_ws2_fixtures.py (atol = rtol = 1e-5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from worldstereo.models.ws2 import Ws2Config, Ws2Transformer, load_transformer
from worldstereo.models.ws2.weights import file_header

FIX = Path(__file__).parent / "fixtures" / "ws2"
BASE = FIX / "base"


def _config(variant: str) -> Ws2Config:
    sub = "memory" if variant == "memory-dmd" else variant
    return Ws2Config.from_files(FIX / f"worldstereo-{sub}" / "config.json", variant,
                                BASE / "transformer" / "config.json")


@pytest.mark.parametrize("variant", ["camera", "memory", "memory-dmd"])
def test_state_dict_is_the_released_layout(variant):
    model = Ws2Transformer.from_config_ws2(_config(variant))
    header = file_header(FIX / f"worldstereo-{variant}" / "model.safetensors")
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert mine == {k: shape for k, (shape, _) in header.items()}
    # strict, no renaming table
    result = model.load_state_dict(load_file(FIX / f"worldstereo-{variant}" / "model.safetensors"), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_full_size_memory_dmd_counts_match_the_released_file():
    """1799 tensors and 17,431,774,784 parameters: the measured header of worldstereo-memory-dmd."""
    data = {"controlnet_cfg": dict(dim=1024, ffn_dim=4096, num_heads=16, num_layers=20, conv_out_dim=5120,
                                   time_embed_dim=5120, add_channels=7, mid_channels=256, mask_downsample=1,
                                   main_camera_embedding=True, camera_embedding_dim=7, update_ref=True)}
    with torch.device("meta"):
        model = Ws2Transformer.from_config_ws2(Ws2Config.from_dict(data, "memory-dmd"))
    sd = model.state_dict()
    assert len(sd) == 1799
    assert sum(v.numel() for v in sd.values()) == 17_431_774_784
    assert tuple(sd["controlnet.controlnet_mask_embedding.mask_proj.0.weight"].shape) == (256, 7, 1, 8, 8)
    assert tuple(sd["controlnet.proj_out.19.weight"].shape) == (5120, 1024)
    assert tuple(sd["camera_embedding.0.weight"].shape) == (2560, 7)


def _inputs(io: dict) -> tuple:
    kw = dict(render_latent=io["render_latent"], render_mask=io["render_mask"], plucker=io["camera_embedding"])
    for k in ("reference_latent", "ref_index", "camera_qt", "camera_qt_ref"):
        if k in io:
            kw[k] = io[k]
    return (io["hidden_states"], io["timestep"], io["encoder_hidden_states"], io["encoder_hidden_states_image"]), kw


@pytest.mark.parametrize("variant", ["camera", "memory"])
def test_parity_with_the_released_forward(variant):
    model = load_transformer(FIX, variant, base_model=BASE)
    io = load_file(FIX / f"{variant}_io.safetensors")
    args, kw = _inputs(io)
    with torch.no_grad():
        out = model(*args, **kw)
    torch.testing.assert_close(out, io["output"], atol=1e-5, rtol=1e-5)


def test_parity_fails_when_a_released_convention_is_broken():
    """The fixture sees the reference positions and the camera MLP: changing either moves the output."""
    model = load_transformer(FIX, "memory", base_model=BASE)
    io = load_file(FIX / "memory_io.safetensors")
    args, kw = _inputs(io)
    with torch.no_grad():
        moved = model(*args, **{**kw, "ref_index": torch.tensor([1, 0])})
        no_camera = model(*args, **{**kw, "camera_qt": None, "camera_qt_ref": None})
    assert (moved - io["output"]).abs().max() > 1e-4
    assert (no_camera - io["output"]).abs().max() > 1e-4


def test_wrong_variant_is_one_line(tmp_path):
    folder = tmp_path / "worldstereo-camera"
    folder.mkdir()
    (folder / "config.json").write_text((FIX / "worldstereo-camera" / "config.json").read_text())
    save_file(load_file(FIX / "worldstereo-memory" / "model.safetensors"), folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"keys this ws2 variant does not have .*--variant") as err:
        load_transformer(tmp_path, "camera", base_model=BASE)
    assert "\n" not in str(err.value)


def test_shape_mismatch_is_one_line(tmp_path):
    folder = tmp_path / "worldstereo-memory"
    folder.mkdir()
    cfg = json.loads((FIX / "worldstereo-memory" / "config.json").read_text())
    cfg["controlnet_cfg"]["ffn_dim"] = 48
    (folder / "config.json").write_text(json.dumps(cfg))
    save_file(load_file(FIX / "worldstereo-memory" / "model.safetensors"), folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"controlnet\.controlnet_blocks\.0\.ffn\.0\.(weight|bias) has shape") as err:
        load_transformer(tmp_path, "memory", base_model=BASE)
    assert "\n" not in str(err.value)


def test_missing_files_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="worldstereo-memory-dmd/config.json"):
        load_transformer(tmp_path, "memory-dmd")
    with pytest.raises(ValueError, match="not one of camera, memory, memory-dmd"):
        Ws2Config.from_dict({"controlnet_cfg": {}}, "dmd")


def test_partial_file_takes_backbone_from_base_only(tmp_path):
    """A file without backbone keys is filled from the base transformer; without a base it is refused."""
    full = load_file(FIX / "worldstereo-memory" / "model.safetensors")
    folder = tmp_path / "worldstereo-memory"
    folder.mkdir()
    (folder / "config.json").write_text((FIX / "worldstereo-memory" / "config.json").read_text())
    new = {k: v for k, v in full.items() if k.startswith(("controlnet.", "camera_embedding."))}
    save_file(new, folder / "model.safetensors")
    base = tmp_path / "base"
    (base / "transformer").mkdir(parents=True)
    (base / "transformer" / "config.json").write_text((BASE / "transformer" / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors"):
        load_transformer(tmp_path, "memory", base_model=base)
    save_file({k: v for k, v in full.items() if k not in new}, base / "transformer" / "model.safetensors")
    model = load_transformer(tmp_path, "memory", base_model=base)
    for k, v in model.state_dict().items():
        assert torch.equal(v, full[k]), k


def test_half_precision_keeps_released_fp32_modules_and_runs():
    """bf16 backbone + float32 ControlNet/camera MLP/time embedding, run under autocast (CPU here)."""
    ref = load_transformer(FIX, "memory", base_model=BASE)
    half = load_transformer(FIX, "memory", base_model=BASE, dtype=torch.bfloat16)
    assert half.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert half.controlnet.proj_out[0].weight.dtype == torch.float32
    assert half.camera_embedding[0].weight.dtype == torch.float32
    assert half.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert half.blocks[0].scale_shift_table.dtype == torch.float32
    io = load_file(FIX / "memory_io.safetensors")
    args, kw = _inputs(io)
    with torch.no_grad():
        out = half(*args, **kw)
        full = ref(*args, **kw)
    assert out.dtype == torch.bfloat16
    err = (out.float() - full).abs().max() / full.abs().max()
    assert err < 0.1, err
