"""Backbone adapter vs diffusers, zero-initialised branches, SSM pair restriction, save/load round trips."""

import json

import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from models_synth import one_thread

from worldstereo.models import (Conditioning, SSMInputs, WanBackbone, WorldStereoModel, add_noise, get_config,
                                pair_frames)
from worldstereo.models.backbone import config_from_transformer

TINY_I2V = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=12, out_channels=4,
                text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, qk_norm="rms_norm_across_heads",
                rope_max_seq_len=32, image_dim=16, added_kv_proj_dim=32)


def _i2v_inputs(b=1, f=2, h=4, w=4):
    g = torch.Generator().manual_seed(3)
    return (torch.randn(b, 4, f, h, w, generator=g), torch.randn(b, 4, f, h, w, generator=g),
            torch.rand(b, 4, f, h, w, generator=g).round(), torch.randn(b, 512, 32, generator=g),
            torch.randn(b, 257, 16, generator=g), torch.tensor([700.0] * b))


def test_backbone_is_bit_identical_to_diffusers_forward():
    torch.manual_seed(0)
    tr = WanTransformer3DModel(**TINY_I2V).eval()
    bb = WanBackbone(tr, config_from_transformer(tr))
    noisy, cond, mask, text, image, t = _i2v_inputs()
    with torch.no_grad():
        ref = tr(torch.cat([noisy, mask, cond], 1), t, text, image).sample
        out = bb(noisy, t, cond, mask, text, image, capture=(0, 1))
    assert torch.equal(out.sample, ref)
    assert out.hidden[1].shape == (1, 2 * 2 * 2, 32)


def test_diffusers_layout_directory_loads_as_backbone(tmp_path):
    torch.manual_seed(0)
    tr = WanTransformer3DModel(**TINY_I2V).eval()
    tr.save_pretrained(tmp_path / "transformer")
    AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                     latents_mean=[0.0] * 4, latents_std=[1.0] * 4).save_pretrained(tmp_path / "vae")
    cfg = get_config("tiny")
    cfg.pose.feature_block = 1
    model = WorldStereoModel.from_wan(tmp_path, config=cfg).eval()
    assert model.codec.channels == 4 and model.codec.temporal_factor == 4
    noisy, cond_latent, mask, text, image, t = _i2v_inputs(f=2)
    reloaded = WanTransformer3DModel.from_pretrained(tmp_path / "transformer", local_files_only=True).eval()
    with torch.no_grad():
        stack = torch.cat([noisy, mask, cond_latent], 1)
        ref, original = reloaded(stack, t, text, image).sample, tr(stack, t, text, image).sample
        camera = torch.randn(1, model.camera_branch.cond_channels, 2, 4, 4)
        out = model(noisy, t, Conditioning(cond_latent, mask, text, None, image, camera=camera)).sample
    assert torch.equal(out, original)
    # diffusers' own reload keeps weights sliced from the file buffer, which changes float rounding (~1e-7)
    assert torch.allclose(out, ref, atol=1e-5)


def _tiny_inputs(model, f=9, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.codec.channels
    x0 = torch.randn(b, c, f, 16, 16, generator=g)
    cond_latent, cond_mask = model.image_condition(torch.rand(b, 3, 64, 64, generator=g), f)
    camera = torch.randn(b, model.camera_branch.cond_channels, f, 16, 16, generator=g)
    frames = pair_frames(f, 4)
    p = len(frames)
    ssm = SSMInputs(frames, *(torch.randn(b, c, p, 16, 16, generator=g) for _ in range(3)),
                    reference_valid=torch.ones(b, p, dtype=torch.bool))
    noisy = add_noise(x0, torch.randn(x0.shape, generator=g), torch.tensor([0.6] * b))
    return noisy, torch.tensor([600.0] * b), Conditioning(cond_latent, cond_mask, camera=camera, ssm=ssm)


def _randomise_projections(model):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for branch in (model.camera_branch, model.ssm_branch):
            for proj in branch.projections:
                proj.weight.copy_(torch.randn(proj.weight.shape, generator=g) * 0.05)


def _full_width_tiny():
    """Tiny with classic ControlNet branches: the backbone's width, camera blocks copied from the backbone."""
    cfg = get_config("tiny")
    cfg.camera.dim = cfg.camera.num_heads = cfg.ssm.dim = cfg.ssm.num_heads = None
    cfg.camera.init_from_backbone = True
    return cfg


@pytest.mark.parametrize("width", ["lightweight", "backbone"])
def test_fresh_branches_leave_the_backbone_output_unchanged(width):
    torch.manual_seed(0)
    model = WorldStereoModel.from_config("tiny" if width == "lightweight" else _full_width_tiny()).eval()
    narrow = width == "lightweight"
    for branch in (model.camera_branch, model.ssm_branch):
        assert (branch.width.dim < model.backbone.inner_dim) == narrow
    noisy, t, cond = _tiny_inputs(model)
    with torch.no_grad():
        bare = model.backbone(noisy, t, cond.cond_latent, cond.cond_mask).sample
        full = model(noisy, t, cond).sample
        _randomise_projections(model)
        trained = model(noisy, t, cond).sample
    assert torch.equal(full, bare)
    assert not torch.allclose(trained, bare, atol=1e-4)


@pytest.mark.parametrize("width", ["lightweight", "backbone"])
def test_ssm_attention_is_restricted_to_each_pair(width):
    torch.manual_seed(0)
    model = WorldStereoModel.from_config("tiny" if width == "lightweight" else _full_width_tiny()).eval()
    _randomise_projections(model)
    noisy, t, cond = _tiny_inputs(model)
    bb, ssm = model.backbone, cond.ssm
    frames = ssm.target_frames.tolist()
    assert frames == [4, 8]
    tokens = 8 * 8

    def residual_at(noisy_in, inputs, frame):
        state = bb.embed(noisy_in, t, cond.cond_latent, cond.cond_mask)
        res = model.ssm_branch(bb, state, noisy_in, inputs)
        return {k: v[:, frame * tokens:(frame + 1) * tokens] for k, v in res.items()}

    with torch.no_grad():
        base = residual_at(noisy, ssm, 4)
        noisy2 = noisy.clone()
        noisy2[:, :, 8] += 1.0
        changed = SSMInputs(ssm.target_frames, ssm.reference_latents.clone(), ssm.target_pointmaps.clone(),
                            ssm.reference_pointmaps.clone(), ssm.reference_valid)
        for x in (changed.reference_latents, changed.target_pointmaps, changed.reference_pointmaps):
            x[:, :, 1] = torch.randn_like(x[:, :, 1])
        other = residual_at(noisy2, changed, 4)
        alone = residual_at(noisy, SSMInputs(ssm.target_frames[:1], ssm.reference_latents[:, :, :1],
                                             ssm.target_pointmaps[:, :, :1], ssm.reference_pointmaps[:, :, :1],
                                             ssm.reference_valid[:, :1]), 4)
        moved = residual_at(noisy2, changed, 8)
        base8 = residual_at(noisy, ssm, 8)
    for k in base:
        assert torch.allclose(base[k], other[k], atol=1e-6)
        assert torch.allclose(base[k], alone[k], atol=1e-5)
        assert base[k].abs().max() > 1e-4
        assert not torch.allclose(moved[k], base8[k], atol=1e-4)


def test_branch_width_options_are_checked():
    cfg = get_config("tiny")
    cfg.camera.init_from_backbone = True  # copying backbone blocks needs the backbone's width
    with pytest.raises(ValueError, match="init_from_backbone.*width 256.*dim=48"):
        WorldStereoModel(cfg)
    cfg = get_config("tiny")
    cfg.ssm.num_heads = 5
    with pytest.raises(ValueError, match="SSM branch: dim 48 must be a positive multiple of num_heads 5"):
        WorldStereoModel(cfg)
    model = WorldStereoModel(_full_width_tiny())
    copied = model.camera_branch.blocks[0].state_dict()
    assert all(torch.equal(v, model.backbone.blocks[0].state_dict()[k]) for k, v in copied.items())
    assert model.camera_branch.width.token_proj is None  # same width: no maps, the backbone's RoPE and context


def test_missing_reference_uses_the_null_token():
    torch.manual_seed(0)
    model = WorldStereoModel.from_config("tiny").eval()
    _randomise_projections(model)
    noisy, t, cond = _tiny_inputs(model)
    ssm = cond.ssm
    dropped = SSMInputs(ssm.target_frames, ssm.reference_latents, ssm.target_pointmaps, ssm.reference_pointmaps,
                        torch.tensor([[True, False]]))
    other_ref = SSMInputs(ssm.target_frames, torch.randn_like(ssm.reference_latents), ssm.target_pointmaps,
                          torch.randn_like(ssm.reference_pointmaps), torch.tensor([[True, False]]))
    bb = model.backbone
    with torch.no_grad():
        state = bb.embed(noisy, t, cond.cond_latent, cond.cond_mask)
        a = model.ssm_branch(bb, state, noisy, dropped)
        b = model.ssm_branch(bb, state, noisy, other_ref)
        full = model.ssm_branch(bb, state, noisy, ssm)
    sl = slice(8 * 64, 9 * 64)
    for k in a:
        assert torch.allclose(a[k][:, sl], b[k][:, sl], atol=1e-6)
        assert not torch.allclose(a[k][:, sl], full[k][:, sl], atol=1e-5)


def test_save_and_load_round_trip_is_bitwise(tmp_path):
    with one_thread():
        torch.manual_seed(0)
        model = WorldStereoModel.from_config("tiny").eval()
        _randomise_projections(model)
        noisy, t, cond = _tiny_inputs(model)
        model.save_pretrained(tmp_path / "m")
        files = sorted(p.name for p in (tmp_path / "m").iterdir())
        assert files == ["backbone.safetensors", "camera_branch.safetensors", "config.json", "pose_head.safetensors",
                         "ssm_branch.safetensors"]
        assert json.loads((tmp_path / "m" / "config.json").read_text())["name"] == "tiny"
        loaded = WorldStereoModel.from_pretrained(tmp_path / "m")
        with torch.no_grad():
            a = model(noisy, t, cond, capture=(2,))
            b = loaded(noisy, t, cond, capture=(2,))
            pa, pb = model.pointmaps(a.hidden[2], (9, 16, 16)), loaded.pointmaps(b.hidden[2], (9, 16, 16))
        assert torch.equal(a.sample, b.sample)
        assert torch.equal(pa.Xf1, pb.Xf1)


def test_from_pretrained_rejects_a_directory_without_config(tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        WorldStereoModel.from_pretrained(tmp_path)


def test_wan_layout_model_round_trips_with_its_vae_codec(tmp_path):
    """A model built from a diffusers Wan directory saves, and reloads (meta-device init) with the VAE by path."""
    torch.manual_seed(0)
    WanTransformer3DModel(**TINY_I2V).save_pretrained(tmp_path / "wan" / "transformer")
    AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                     latents_mean=[0.0] * 4, latents_std=[1.0] * 4).save_pretrained(tmp_path / "wan" / "vae")
    cfg = get_config("tiny")
    cfg.pose.feature_block = 1
    model = WorldStereoModel.from_wan(tmp_path / "wan", config=cfg).eval()
    _randomise_projections(model)
    model.save_pretrained(tmp_path / "m")
    loaded = WorldStereoModel.from_pretrained(tmp_path / "m")
    assert loaded.config.codec.kind == "wan_vae"
    noisy, cond_latent, mask, text, image, t = _i2v_inputs(f=2)
    frames = torch.tensor([1])
    ssm = SSMInputs(frames, *(torch.randn(1, 4, 1, 4, 4) for _ in range(3)))
    camera = torch.randn(1, model.camera_branch.cond_channels, 2, 4, 4)
    cond = Conditioning(cond_latent, mask, text, None, image, camera=camera, ssm=ssm)
    video = torch.rand(1, 3, 5, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(noisy, t, cond).sample, loaded(noisy, t, cond).sample)
        assert torch.equal(model.codec.encode(video), loaded.codec.encode(video))


def test_convention_wan21_i2v_14b_shapes():
    """The full-scale config gives diffusers the public Wan2.1-I2V-14B transformer config (36 = 16 + 4 + 16)."""
    kwargs = get_config("wan2.1-i2v-14b").backbone.diffusers_kwargs(latent_channels=16, mask_channels=4)
    public = {"added_kv_proj_dim": 5120, "attention_head_dim": 128, "cross_attn_norm": True, "eps": 1e-06,
              "ffn_dim": 13824, "freq_dim": 256, "image_dim": 1280, "in_channels": 36, "num_attention_heads": 40,
              "num_layers": 40, "out_channels": 16, "patch_size": (1, 2, 2), "qk_norm": "rms_norm_across_heads",
              "rope_max_seq_len": 1024, "text_dim": 4096}
    assert {k: kwargs[k] for k in public} == public


def test_model_config_json_round_trip_and_errors():
    from worldstereo.models import ModelConfig

    cfg = get_config("wan2.1-i2v-14b")
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.backbone.patch_size == (1, 2, 2)
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({"backbone": {"num_layer": 3}})
    with pytest.raises(ValueError, match="unknown model config"):
        get_config("wan2.2")
