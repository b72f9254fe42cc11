"""Model-stack timings on this CPU at the tiny scale; prints one JSON line.

Figures: forward+backward step time of the tiny model (camera + SSM branches active); branch overhead
over the bare backbone (forward and training step); SSM pair-restricted attention versus one joint
attention over all target and reference tokens at 21 latent frames; 4-step DMD versus 40-step CFG
sampling. Every ratio is measured side by side in the same run. The 14B-shape GPU timing is not run here.
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from worldstereo.models import Conditioning, SSMInputs, WorldStereoModel, add_noise, flow_matching_loss, get_config
from worldstereo.models.ssm_branch import pair_frames


def timed(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_side_by_side(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Fastest time of each callable, run in turn: on a CPU shared with other jobs the minimum is the figure
    least disturbed by them, and interleaving makes load changes hit every variant alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def inputs(model: WorldStereoModel, frames: int, with_branches: bool):
    g = torch.Generator().manual_seed(0)
    c, s = model.codec.channels, model.codec.spatial_factor
    h = w = model.config.height // s
    x0 = torch.randn(1, c, frames, h, w, generator=g)
    cond = Conditioning(*model.image_condition(torch.rand(1, 3, model.config.height, model.config.width), frames))
    if with_branches:
        cond.camera = torch.randn(1, model.camera_branch.cond_channels, frames, h, w, generator=g)
        idx = pair_frames(frames, model.config.ssm.pair_stride)
        cond.ssm = SSMInputs(idx, *(torch.randn(1, c, len(idx), h, w, generator=g) for _ in range(3)))
    return x0, cond


def train_step_fn(model, x0, cond, opt):
    noise = torch.randn_like(x0)
    sigma = torch.tensor([0.6])

    def step():
        loss = flow_matching_loss(model(add_noise(x0, noise, sigma), sigma * 1000, cond).sample, x0, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def ssm_attention_ratio(model: WorldStereoModel, frames: int = 21) -> dict:
    """The SSM branch's blocks on (P, h·2w) pair sequences vs the same blocks on one joint (1, P·h·2w) sequence."""
    bb, branch = model.backbone, model.ssm_branch
    x0, cond = inputs(model, frames, True)
    state = bb.embed(x0, torch.tensor([600.0]), cond.cond_latent, cond.cond_mask)
    _, h, w = state.grid
    p = len(cond.ssm.target_frames)
    width = branch.width  # the branch's own width, context, modulation and RoPE
    pairs = torch.randn(p, h * 2 * w, width.dim)
    joint = pairs.reshape(1, p * h * 2 * w, width.dim)
    rope_pair = width.rotary(bb, 1, h, 2 * w, pairs)
    rope_joint = width.rotary(bb, p, h, 2 * w, pairs)
    ins = width.inputs(state)
    ctx_p, tp_p = ins.context.repeat_interleave(p, 0), ins.timestep_proj.repeat_interleave(p, 0)

    def run(x, ctx, tp, rope):
        for block in branch.blocks:
            x = block(x, ctx, tp, rope)

    with torch.no_grad():
        both = timed_side_by_side({"pair": lambda: run(pairs, ctx_p, tp_p, rope_pair),
                                   "joint": lambda: run(joint, ins.context, ins.timestep_proj, rope_joint)}, 5)
    t_pair, t_joint = both["pair"], both["joint"]
    return {"ssm_pairs": p, "ssm_pair_tokens": h * 2 * w, "ssm_joint_tokens": p * h * 2 * w,
            "ssm_pair_s": t_pair, "ssm_joint_s": t_joint, "ssm_joint_over_pair": t_joint / t_pair}


def attention_only_ratio(pairs: int = 5, h: int = 30, w: int = 52, heads: int = 2, head_dim: int = 64) -> dict:
    """Scaled-dot-product attention alone at Wan's 480p token grid (30 × 52 per frame): P pair sequences of
    h·2w tokens vs one joint sequence of P·h·2w tokens (the FLOP ratio is P)."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(pairs, heads, h * 2 * w, head_dim, generator=g)
    qj = q.transpose(0, 1).reshape(1, heads, -1, head_dim)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    with torch.no_grad():
        t_pair = timed(lambda: sdpa(q, q, q), 2, warmup=1)
        t_joint = timed(lambda: sdpa(qj, qj, qj), 1, warmup=0)
    return {"attn480p_pair_s": t_pair, "attn480p_joint_s": t_joint, "attn480p_joint_over_pair": t_joint / t_pair}


def overhead_21_frames(model: WorldStereoModel) -> dict:
    """Forward time at 21 latent frames (5 SSM pairs): bare, + camera branch, + SSM branch, + both."""
    x0, full = inputs(model, 21, True)
    t = torch.tensor([600.0])
    variants = {"bare": (None, None), "camera": (full.camera, None), "ssm": (None, full.ssm),
                "both": (full.camera, full.ssm)}
    fns = {}
    for name, (camera, ssm) in variants.items():
        cond = Conditioning(full.cond_latent, full.cond_mask, camera=camera, ssm=ssm)
        fns[name] = lambda c=cond: model(x0, t, c)
    with torch.no_grad():
        times = timed_side_by_side(fns, 9)
    return {"forward21_bare_s": times["bare"], "overhead21_camera": times["camera"] / times["bare"],
            "overhead21_ssm": times["ssm"] / times["bare"], "overhead21_both": times["both"] / times["bare"]}


def flop_overhead_14b(frames: int = 21, h: int = 30, w: int = 52) -> dict:
    """Multiply-accumulate count of one wan2.1-i2v-14b denoising step at 480p with and without the branches.

    An estimate, not a timing (no GPU here): per block of width d, linear layers 4d² (self-attention) +
    2d² (cross-attention query/output) + 2·d·ffn per token, cross-attention keys/values 4·d² per
    text/image token (Wan's added image keys/values included), self-attention 2·L²·d; the branches run
    at their own width (Uni3C's lightweight ControlNet: 1024) plus their D->d input maps and d->D
    zero-initialised outputs; the SSM runs on P pair sequences of h·2w tokens.
    """
    cfg = get_config("wan2.1-i2v-14b")
    d_main, ffn_main = cfg.backbone.inner_dim, cfg.backbone.ffn_dim
    context = cfg.backbone.text_len + 257

    def block(tokens: int, d: int, ffn: int, seqs: int = 1) -> float:
        per_token = 6 * d * d + 2 * d * ffn
        return seqs * (tokens * per_token + context * 4 * d * d + 2 * tokens * tokens * d)

    def branch_width(b) -> tuple[int, int]:
        d = b.dim or d_main
        return d, b.ffn_dim or (ffn_main if d == d_main else max(64, round(ffn_main * d / d_main / 64) * 64))

    main_tokens = frames * h * w
    pairs = len(pair_frames(frames, cfg.ssm.pair_stride))
    main = cfg.backbone.num_layers * block(main_tokens, d_main, ffn_main)
    d, ffn = branch_width(cfg.camera)
    maps = 0 if d == d_main else (main_tokens + context) * d_main * d  # token and context maps in
    camera = cfg.camera.n_layers * (block(main_tokens, d, ffn) + main_tokens * d * d_main) + maps
    d, ffn = branch_width(cfg.ssm)
    ssm = cfg.ssm.n_layers * (block(2 * h * w, d, ffn, pairs) + pairs * h * w * d * d_main)
    return {"flops14b_step_tmac": main / 1e12, "flops14b_overhead_camera": (main + camera) / main,
            "flops14b_overhead_ssm": (main + ssm) / main, "flops14b_overhead_both": (main + camera + ssm) / main}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = get_config("tiny")
    model = WorldStereoModel(cfg)
    frames = cfg.num_frames
    out: dict = {"config": "tiny", "frames": frames, "size": [cfg.height, cfg.width], "threads": 1,
                 "params_m": {k: sum(p.numel() for p in getattr(model, k).parameters()) / 1e6
                              for k in ("backbone", "camera_branch", "ssm_branch", "pose_head")}}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x0, cond_full = inputs(model, frames, True)
    _, cond_bare = inputs(model, frames, False)
    train = timed_side_by_side({"full": train_step_fn(model, x0, cond_full, opt),
                                "bare": train_step_fn(model, x0, cond_bare, opt)}, 10)
    out["train_step_s"], out["train_step_bare_s"] = train["full"], train["bare"]
    out["train_overhead_ratio"] = train["full"] / train["bare"]
    t = torch.tensor([600.0])
    with torch.no_grad():
        fwd = timed_side_by_side({"full": lambda: model(x0, t, cond_full), "bare": lambda: model(x0, t, cond_bare)}, 10)
    out["forward_s"], out["forward_bare_s"] = fwd["full"], fwd["bare"]
    out["forward_overhead_ratio"] = fwd["full"] / fwd["bare"]
    out.update(overhead_21_frames(model))
    out.update(ssm_attention_ratio(model))
    out.update(attention_only_ratio())
    out.update(flop_overhead_14b())
    model.eval()
    noise = torch.randn_like(x0)
    sampling = timed_side_by_side({"teacher": lambda: model.generate(cond_full, noise, "euler", 40, 5.0),
                                   "dmd": lambda: model.generate(cond_full, noise, "dmd")}, 2, warmup=0)
    out["teacher_40step_cfg_s"], out["dmd_4step_s"] = sampling["teacher"], sampling["dmd"]
    out["dmd_speedup"] = out["teacher_40step_cfg_s"] / out["dmd_4step_s"]
    out["gpu_14b_step"] = "not run: no GPU lent to this task"
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
