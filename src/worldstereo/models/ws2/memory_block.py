"""The memory variants' block: a stock diffusers ``WanTransformerBlock``'s weights run with reference tokens.

Reference tokens share the block's time modulation, self-attention projections and q/k norms, and its
feed-forward; target and reference tokens attend jointly over [references ; targets] with no mask;
references get no cross-attention (text/image context)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_wan import WanTransformerBlock

from .rope import apply_rope


def _qkv(attn, x: torch.Tensor, rope: tuple) -> tuple:
    q = apply_rope(attn.norm_q(attn.to_q(x)).unflatten(2, (attn.heads, -1)), *rope)
    k = apply_rope(attn.norm_k(attn.to_k(x)).unflatten(2, (attn.heads, -1)), *rope)
    return q, k, attn.to_v(x).unflatten(2, (attn.heads, -1))


def joint_self_attention(attn, x: torch.Tensor, refs: torch.Tensor, rope: tuple, ref_rope: tuple) -> tuple:
    """``x [B, L, D]``, ``refs [B, Lr, D]`` -> (x_out, refs_out), one softmax over all L + Lr keys.

    Under context parallelism (the block's processor holds the parallel config) ``x`` and ``refs`` are this
    rank's shares; the keys are all ranks' [refs ; targets] shares, a reordering of the same keys, which an
    unmasked softmax does not see (positions are in the rotary phases, applied before)."""
    q, k, v = _qkv(attn, x, rope)
    rq, rk, rv = _qkv(attn, refs, ref_rope)
    parallel = getattr(attn.processor, "_parallel_config", None)
    if parallel is not None:
        from .parallel import attention

        q, k, v = (torch.cat(p, dim=1) for p in ((rq, q), (rk, k), (rv, v)))
        out = attention(q, k, v, parallel).flatten(2).type_as(x)
    else:
        q, k, v = (torch.cat(p, dim=1).transpose(1, 2) for p in ((rq, q), (rk, k), (rv, v)))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2).type_as(x)
    out = attn.to_out[0](out)
    n_ref = refs.shape[1]
    return out[:, n_ref:], out[:, :n_ref]


def memory_block_forward(block: WanTransformerBlock, x: torch.Tensor, refs: torch.Tensor, context: torch.Tensor,
                         temb: torch.Tensor, rope: tuple, ref_rope: tuple) -> tuple:
    """One block on targets ``x [B, L, D]`` and references ``refs [B, Lr, D]``; ``temb [B, 6, D]``."""
    shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb.float()).chunk(6, dim=1)

    def modulate(t, sh, sc):
        return (block.norm1(t.float()) * (1 + sc) + sh).type_as(t)

    attn_x, attn_r = joint_self_attention(block.attn1, modulate(x, shift, scale), modulate(refs, shift, scale),
                                          rope, ref_rope)
    x = (x.float() + attn_x * gate).type_as(x)
    refs = (refs.float() + attn_r * gate).type_as(refs)

    x = x + block.attn2(block.norm2(x.float()).type_as(x), context, None, None)

    def feed_forward(t):
        h = (block.norm3(t.float()) * (1 + c_scale) + c_shift).type_as(t)
        return (t.float() + block.ffn(h).float() * c_gate).type_as(t)

    return feed_forward(x), feed_forward(refs)
