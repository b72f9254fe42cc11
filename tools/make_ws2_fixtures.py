"""Write the ws2 parity fixtures from the authors' released code (run OUTSIDE the project's environment).

    python tools/make_ws2_fixtures.py /path/to/official/checkout [--out tests/fixtures/ws2]

The checkout is FuchengSu/WorldStereo; its Python environment needs diffusers, transformers, omegaconf and the
modules its ``src/general_utils.py`` imports (kornia, imageio, opencv, matplotlib, decord, loguru). Nothing of
the project is imported here, and no released code is copied: the released classes are imported from the
checkout and run on tiny random weights. Two runtime stand-ins, no source edits:

- P1: a single-process parallel state is placed in ``src.sp_utils.parallel_states`` (the released code
  otherwise builds a CUDA device mesh on first use);
- P2: the ControlNet output projections are rebuilt at the tiny backbone width (the released code fixes
  them at 5120); the key names do not change.

Written: ``base/`` (tiny transformer config, tiny VAE, tiny CLIP, image processor and scheduler configs),
``worldstereo-{camera,memory,memory-dmd}/{config.json,model.safetensors}``, ``camera_io.safetensors`` and
``memory_io.safetensors`` (transformer inputs + output), ``pipeline_io.safetensors`` (sampler inputs + final
latents of the DMD and UniPC pipelines), ``preprocess_io.safetensors`` (the camera encodings: Plücker map,
7-value cameras) and ``provenance.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

WAN = dict(patch_size=[1, 2, 2], num_attention_heads=2, attention_head_dim=16, in_channels=36, out_channels=16,
           text_dim=16, freq_dim=16, ffn_dim=64, num_layers=2, cross_attn_norm=True,
           qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=8, added_kv_proj_dim=32, rope_max_seq_len=1024)
CONTROLNET = dict(dim=16, ffn_dim=32, num_heads=2, num_layers=1, conv_out_dim=32, time_embed_dim=32, add_channels=7,
                  mid_channels=16, mask_downsample=1, interp=False, main_camera_embedding=True,
                  camera_embedding_dim=7, ref_embedding=False, update_ref=True)
TOP = dict(base_model="../base", freeze_backbone=True, nframe=3, scale_map=[[32, 48]],
           latent_cond_mode="first_frame_only", negative_prompt="", dmd_start_steps=250, dmd_end_steps=1000,
           dmd_steps=4, gen_shift=5.0)
VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, attn_scales=[],
           temperal_downsample=[False, True, True], dropout=0.0)
CLIP = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            patch_size=16, projection_dim=8)
F, H, W, R = 3, 32, 48, 2


def stand_ins(checkout: Path) -> None:
    sys.path.insert(0, str(checkout))
    import src.sp_utils.parallel_states as ps  # noqa: E402

    setattr(ps, "__parallel_dims", types.SimpleNamespace(sp=1, sp_rank=0, sp_group=None, world_size=1,
                                                         sp_enabled=False))


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Every parameter redrawn so that no path hides behind a zero init: N(0, 0.1²), scales 1 + N(0, 0.1²)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(noise + 1.0 if (p.ndim == 1 and name.endswith("weight")) else noise)


def build(memory: bool, seed: int):
    from omegaconf import OmegaConf
    from models.worldstereo import WorldStereoModel, WorldStereoRefSModel

    cls = WorldStereoRefSModel if memory else WorldStereoModel
    model = cls(**{**WAN, "patch_size": tuple(WAN["patch_size"])}, controlnet_cfg=OmegaConf.create(CONTROLNET))
    model.build_controlnet(load_uni3c=False, freeze_backbone=False)
    d_model = WAN["num_attention_heads"] * WAN["attention_head_dim"]
    model.controlnet.proj_out = torch.nn.ModuleList(  # P2
        torch.nn.Linear(CONTROLNET["dim"], d_model) for _ in range(CONTROLNET["num_layers"]))
    randomise(model, seed)
    return model.eval()


def transformer_inputs(memory: bool, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = {"hidden_states": torch.randn(1, 36, F, H // 8, W // 8, generator=g),
         "timestep": torch.tensor([750.0]),
         "encoder_hidden_states": torch.randn(1, 512, WAN["text_dim"], generator=g),
         "encoder_hidden_states_image": torch.randn(1, 5, WAN["image_dim"], generator=g),
         "render_latent": torch.randn(1, 16, F, H // 8, W // 8, generator=g),
         "render_mask": (torch.rand(1, 1, F, H, W, generator=g) > 0.5).float(),
         "camera_embedding": torch.randn(1, 6, F, H, W, generator=g)}
    if memory:
        x.update(reference_latent=torch.randn(1, 36, R, H // 8, W // 8, generator=g),
                 ref_index=torch.tensor([0, 1]), camera_qt=torch.randn(1, F, 7, generator=g),
                 camera_qt_ref=torch.randn(1, R, 7, generator=g))
    return x


def save_variant(out: Path, variant: str, model: torch.nn.Module) -> None:
    from safetensors.torch import save_file

    folder = out / f"worldstereo-{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**TOP, "controlnet_cfg": CONTROLNET}, indent=1))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))


def tiny_aux(out: Path):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    base = out / "base"
    (base / "transformer").mkdir(parents=True, exist_ok=True)
    (base / "transformer" / "config.json").write_text(json.dumps({"_class_name": "WanTransformer3DModel", **WAN}))
    torch.manual_seed(11)
    vae = AutoencoderKLWan(**VAE).eval()
    randomise(vae, 12)
    vae.save_pretrained(str(base / "vae"))
    torch.manual_seed(13)
    clip = CLIPVisionModel(CLIPVisionConfig(**CLIP)).eval()
    clip.save_pretrained(str(base / "image_encoder"))
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(str(base / "image_processor"))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    scheduler.save_pretrained(str(base / "scheduler"))
    # the released loader opens the processor with do_rescale=False whatever its file says
    return vae, clip, CLIPImageProcessor.from_pretrained(str(base / "image_processor"), do_rescale=False), scheduler


def pipeline_inputs(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = {"image_u8": (torch.rand(H, W, 3, generator=g) * 255).round().to(torch.uint8),
         "render_video": torch.rand(1, 3, F, H, W, generator=g) * 2 - 1,
         "render_mask": (torch.rand(1, 1, F, H, W, generator=g) > 0.5).float(),
         "camera_embedding": torch.randn(1, 6, F, H, W, generator=g),
         "reference_video": torch.rand(1, 3, R, H, W, generator=g) * 2 - 1,
         "ref_index": torch.tensor([0, 1]),
         "camera_qt": torch.randn(1, F, 7, generator=g), "camera_qt_ref": torch.randn(1, R, 7, generator=g),
         "prompt_embeds": torch.randn(1, 512, WAN["text_dim"], generator=g),
         "negative_prompt_embeds": torch.randn(1, 512, WAN["text_dim"], generator=g),
         "latents": torch.randn(1, 16, F, H // 8, W // 8, generator=g)}
    return x


def run_pipelines(memory_model, aux) -> dict:
    from PIL import Image
    from models.dmd_scheduler import FlowGeneratorScheduler
    from models.pipelines.pipeline_dmd_keyframe import RefKFDMDGeneratorPipeline
    from models.pipelines.pipeline_ref_keyframe import KFPCDControllerRefPipeline

    vae, clip, processor, unipc = aux
    x = pipeline_inputs(21)
    image = Image.fromarray(x["image_u8"].numpy())
    common = dict(image=image, render_video=x["render_video"], render_mask=x["render_mask"],
                  camera_embedding=x["camera_embedding"], reference_video=x["reference_video"],
                  ref_index=x["ref_index"], camera_qt=x["camera_qt"], camera_qt_ref=x["camera_qt_ref"],
                  latent_cond_mode="first_frame_only", mode="test", height=H, width=W, num_frames=4 * (F - 1) + 1,
                  prompt_embeds=x["prompt_embeds"], output_type="latent")
    out = dict(x)
    dmd = FlowGeneratorScheduler(start_timesteps=TOP["dmd_start_steps"], num_train_timesteps=TOP["dmd_end_steps"],
                                 shift=TOP["gen_shift"], use_timestep_transform=True, dmd_steps=TOP["dmd_steps"])
    pipe = RefKFDMDGeneratorPipeline(None, None, clip, processor, memory_model, vae, dmd, torch.device("cpu"))
    out["dmd_latents"] = pipe(**common, latents=x["latents"].clone()).frames
    pipe = KFPCDControllerRefPipeline(None, None, clip, processor, memory_model, vae, unipc)
    out["unipc_latents"] = pipe(**common, latents=x["latents"].clone(), num_inference_steps=3, guidance_scale=5.0,
                                negative_prompt_embeds=x["negative_prompt_embeds"]).frames
    out["unipc_timesteps"] = unipc.timesteps.clone()
    return out


def random_cameras(n: int, g: torch.Generator) -> torch.Tensor:
    """n world->camera transforms: random rotations (QR of a Gaussian, det +1) and translations."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    q[torch.det(q) < 0, :, 0] *= -1
    w2c = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    w2c[:, :3, :3] = q
    w2c[:, :3, 3] = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return w2c.float()


def preprocessing() -> dict:
    """The released camera encodings: Plücker map and the camera MLP's 7 values."""
    from models.camera import get_camera_embedding, matrix_to_quaternion, unified_camera_normalization

    g = torch.Generator().manual_seed(31)
    n, n_ref, h, w = 5, 3, 24, 40
    w2c, w2c_ref = random_cameras(n, g), random_cameras(n_ref, g)
    K = torch.tensor([[30.0, 0, 19.0], [0, 28.0, 12.5], [0, 0, 1]]).repeat(n, 1, 1)
    plucker = get_camera_embedding(K, w2c, n, h, w, normalize=True, is_w2c=True)
    tgt, ref = unified_camera_normalization(w2c, w2c_ref)
    qt = torch.cat([matrix_to_quaternion(tgt[:, :3, :3]), tgt[:, :3, 3]], dim=-1)
    qt_ref = torch.cat([matrix_to_quaternion(ref[:, :3, :3]), ref[:, :3, 3]], dim=-1)
    return {"K": K, "w2c": w2c, "w2c_ref": w2c_ref, "plucker": plucker, "camera_qt": qt, "camera_qt_ref": qt_ref}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="local checkout of FuchengSu/WorldStereo")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/ws2")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if not (checkout / "models" / "worldstereo.py").is_file():
        sys.exit(f"{checkout} is not a WorldStereo checkout (no models/worldstereo.py): pass the folder of the clone")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    stand_ins(checkout)
    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    models = {}
    for variant, memory, seed in (("camera", False, 1), ("memory", True, 2)):
        model = build(memory, seed)
        x = transformer_inputs(memory, seed + 100)
        with torch.no_grad():
            y = model(**x, return_dict=False)[0]
        save_variant(args.out, variant, model)
        save_file({**x, "output": y.contiguous()}, str(args.out / f"{variant}_io.safetensors"))
        models[variant] = model
    save_variant(args.out, "memory-dmd", models["memory"])
    with torch.no_grad():
        piped = run_pipelines(models["memory"], tiny_aux(args.out))
    save_file({k: v.contiguous() for k, v in piped.items()}, str(args.out / "pipeline_io.safetensors"))
    save_file({k: v.contiguous() for k, v in preprocessing().items()}, str(args.out / "preprocess_io.safetensors"))
    provenance(args.out, checkout)


def provenance(out: Path, checkout: Path) -> None:
    import diffusers
    import transformers

    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = (checkout / "COMMIT").read_text().strip() if (checkout / "COMMIT").is_file() else "unknown"
    record = {"official_repo": "FuchengSu/WorldStereo", "official_commit": commit,
              "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                           "diffusers": diffusers.__version__, "transformers": transformers.__version__,
                           "numpy": np.__version__},
              "threads": 1, "dtype": "float32", "device": "cpu", "tolerance": {"atol": 1e-5, "rtol": 1e-5},
              "stand_ins": {
                  "P1": "single-process parallel state placed in src.sp_utils.parallel_states (sp=1, rank 0, "
                        "world_size 1) instead of a CUDA device mesh",
                  "P2": "controlnet.proj_out rebuilt as num_layers Linear(dim, backbone width) instead of the fixed "
                        "width 5120; key names unchanged"},
              "weights": "every parameter N(0, 0.1^2); 1-D weights (norm scales) 1 + N(0, 0.1^2); seeds in the script",
              "transformer": WAN, "controlnet_cfg": CONTROLNET, "config": TOP, "vae": VAE, "clip": CLIP,
              "pipelines": {"dmd": "RefKFDMDGeneratorPipeline, FlowGeneratorScheduler(250, 1000, shift 5, 4 steps), "
                                   "mode test",
                            "unipc": "KFPCDControllerRefPipeline, UniPCMultistepScheduler(flow_prediction, "
                                     "use_flow_sigmas, flow_shift 3), 3 steps, guidance 5"}}
    (out / "provenance.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
