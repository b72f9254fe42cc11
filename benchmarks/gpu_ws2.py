"""ws2 on one GPU with random weights at the released sizes; prints one JSON line.

    python benchmarks/gpu_ws2.py [--variant memory-dmd] [--height 480 --width 832 --frames 21 --refs 8]
    python benchmarks/gpu_ws2.py --tiny          # the same code at a tiny size, on the CPU (a smoke check)

Builds the Wan2.1-I2V-14B transformer + the released ControlNet (memory-dmd config inferred from the
released file's header) on the meta device, materialises it on the GPU in bf16 with the released float32
modules, fills it with random values (no download), and times: one transformer call (the DMD step), the full
4-step DMD sampling of one video (conditioning latents given; VAE encoding/decoding is not timed), and the
peak accelerator memory (torch.cuda.max_memory_allocated). The estimate of
``worldstereo.models.ws2.memory`` is printed beside it, so the two can be compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from worldstereo.models.ws2 import Ws2Config, Ws2Transformer
from worldstereo.models.ws2.memory import estimate
from worldstereo.models.ws2.sampling import dmd_timesteps, sample_dmd
from worldstereo.models.ws2.weights import _recompute_buffers, cast_for_inference

RELEASED = dict(dim=1024, ffn_dim=4096, num_heads=16, num_layers=20, conv_out_dim=5120, time_embed_dim=5120,
                add_channels=7, mid_channels=256, mask_downsample=1, main_camera_embedding=True,
                camera_embedding_dim=7, update_ref=True)
TINY_WAN = dict(num_attention_heads=2, attention_head_dim=16, text_dim=16, freq_dim=16, ffn_dim=64, num_layers=2,
                image_dim=8, added_kv_proj_dim=32)
TINY_CONTROL = dict(RELEASED, dim=16, ffn_dim=32, num_heads=2, num_layers=1, conv_out_dim=32, time_embed_dim=32,
                    mid_channels=16)


def build(cfg: Ws2Config, device: torch.device, dtype: torch.dtype) -> Ws2Transformer:
    with torch.device("meta"):
        model = Ws2Transformer.from_config_ws2(cfg)
    cast_for_inference(model, dtype)
    model.to_empty(device=device)
    _recompute_buffers(model, device)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 0.02, generator=gen)
            if p.ndim == 1 and name.endswith("weight"):
                p.add_(1.0)
    return model.eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="memory-dmd", choices=["camera", "memory", "memory-dmd"])
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--refs", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="tiny model and size on the CPU (checks the script runs)")
    args = ap.parse_args()
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        cfg = Ws2Config.from_dict({"controlnet_cfg": TINY_CONTROL, "nframe": 3}, args.variant, TINY_WAN)
        args.height, args.width, args.frames, args.refs = 32, 48, 3, 2
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_ws2.py needs a CUDA GPU (or --tiny for the CPU smoke check)")
        device, dtype = torch.device("cuda"), torch.bfloat16
        cfg = Ws2Config.from_dict({"controlnet_cfg": RELEASED, "nframe": args.frames}, args.variant)
    t0 = time.perf_counter()
    model = build(cfg, device, dtype)
    sync(device)
    build_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    f, h, w = args.frames, args.height // 8, args.width // 8
    g = torch.Generator(device=device).manual_seed(1)
    text_dim, image_dim = int(model.config.text_dim), int(model.config.image_dim)
    kw = dict(render_latent=torch.randn(1, 16, f, h, w, device=device, generator=g).to(dtype),
              render_mask=(torch.rand(1, 1, f, args.height, args.width, device=device, generator=g) > 0.5).float(),
              plucker=torch.randn(1, 6, f, args.height, args.width, device=device, generator=g))
    if cfg.memory:
        kw.update(reference_latent=torch.randn(1, 36, args.refs, h, w, device=device, generator=g).to(dtype),
                  ref_index=torch.arange(args.refs, device=device) % max(f - 1, 1),
                  camera_qt=torch.randn(1, f, 7, device=device, generator=g),
                  camera_qt_ref=torch.randn(1, args.refs, 7, device=device, generator=g))
    text = torch.randn(1, 512, text_dim, device=device, generator=g).to(dtype)
    image = torch.randn(1, 257, image_dim, device=device, generator=g).to(dtype)
    cond = torch.randn(1, 20, f, h, w, device=device, generator=g).to(dtype)

    def velocity(z, t, _conditional):
        return model(torch.cat([z.to(dtype), cond], dim=1), t, text, image, **kw)

    noise = torch.randn(1, 16, f, h, w, device=device, generator=g)
    ts = dmd_timesteps(250, 1000, 4, 5.0).to(device)
    step_times, video_times = [], []
    with torch.no_grad():
        for _ in range(args.repeats):
            sync(device)
            t0 = time.perf_counter()
            velocity(noise, ts[:1], True)
            sync(device)
            step_times.append(time.perf_counter() - t0)
        for _ in range(max(1, args.repeats - 1)):
            sync(device)
            t0 = time.perf_counter()
            sample_dmd(velocity, noise, ts, 1000)
            sync(device)
            video_times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / float(1 << 30) if device.type == "cuda" else None
    est = estimate(cfg, args.height, args.width, f, references=args.refs if cfg.memory else 0, dtype=dtype)
    print(json.dumps({"benchmark": "gpu_ws2", "variant": args.variant, "device": str(device),
                      "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                      "dtype": str(dtype).split(".")[-1], "size": [args.height, args.width], "keyframes": f,
                      "references": args.refs if cfg.memory else 0, "build_s": round(build_s, 2),
                      "step_s": round(statistics.median(step_times), 4),
                      "dmd_video_s": round(statistics.median(video_times), 4),
                      "dmd_video_note": "4 transformer calls; VAE encode/decode not included",
                      "peak_gib": None if peak is None else round(peak, 2), "estimate": est.as_dict()}))


if __name__ == "__main__":
    main()
