"""The ws2 memory estimate: exact weight bytes (bf16 backbone, released float32 modules) and the one-GPU goal."""

from __future__ import annotations

import torch

from worldstereo.models.ws2 import Ws2Config
from worldstereo.models.ws2.memory import estimate, weight_bytes

RELEASED = {"controlnet_cfg": dict(dim=1024, ffn_dim=4096, num_heads=16, num_layers=20, conv_out_dim=5120,
                                   time_embed_dim=5120, add_channels=7, mid_channels=256, mask_downsample=1,
                                   main_camera_embedding=True, camera_embedding_dim=7, update_ref=True)}


def test_weight_bytes_keep_the_released_float32_modules():
    cfg = Ws2Config.from_dict(RELEASED, "memory-dmd")
    fp32 = (997_543_680 + 39_352_320  # controlnet, camera MLP
            + 27_535_360 + 10_240 + 40 * 6 * 5120 + 40 * 2 * 5120  # time_embedder, shift tables, norm2
            + 2 * 1280 + 2 * 5120)  # image_embedder.norm1/norm2 (diffusers keeps every "norm1/2" in float32)
    assert weight_bytes(cfg, torch.bfloat16) == (17_431_774_784 - fp32) * 2 + fp32 * 4
    assert weight_bytes(cfg, torch.float32) == 17_431_774_784 * 4


def test_memory_dmd_at_480x832_fits_the_one_gpu_goal():
    est = estimate(Ws2Config.from_dict(RELEASED, "memory-dmd"), 480, 832, 21, references=8)
    assert est.tokens == 21 * 30 * 52 and est.reference_tokens == 8 * 30 * 52
    assert 34 < est.weights_gib < 35
    assert est.peak_gib <= 48.0
    bigger = estimate(Ws2Config.from_dict(RELEASED, "memory-dmd"), 720, 1280, 21, references=8)
    assert bigger.activations_gib > est.activations_gib


def test_cli_dry_run_prints_the_estimate(tmp_path):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from worldstereo.cli.app import app

    fix = Path(__file__).parent / "fixtures" / "ws2"
    res = CliRunner().invoke(app, ["generate", "object", "-o", str(tmp_path / "run"), "--generator", "ws2",
                                   "--model-dir", str(fix), "--base-model", str(fix / "base"), "--dry-run",
                                   "--size", "32x48", "--json"])
    assert res.exit_code == 0, res.output
    est = json.loads(res.output)
    # 3 keyframes of 2x3 tokens; up to 8 references of 2x3 tokens each (memory-dmd)
    assert est["tokens"] == 3 * 2 * 3 and est["reference_tokens"] == 8 * 2 * 3 and est["keyframes"] == 3
    assert est["variant"] == "memory-dmd" and est["peak_gib"] >= est["vae_gib"] > 0
    assert not (tmp_path / "run").exists()  # nothing written, nothing loaded
