"""Adapter over diffusers' ``WanTransformer3DModel`` in its image-to-video form.

The input is Wan's I2V channel stack ``[noisy latent (C) ; first-frame mask (T) ; condition latent (C)]``
(36 = 16 + 4 + 16 for Wan2.1, generalised to the codec's C and temporal factor T). The forward pass is
split into ``embed`` -> ``run_blocks`` -> ``project_out`` so that ControlNet-style branches can read the
embedded tokens and add a residual after any block, and the pose head can read any block's output.
With no residuals the result is bit-identical to ``WanTransformer3DModel.forward`` (tested).

Token layout: (B, L, D) with L = f·h·w in (frame, row, column) order, f, h, w the patch grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from .configs import BackboneConfig


@dataclass
class BackboneState:
    """Everything the blocks need, shared by the backbone and its branches."""

    tokens: torch.Tensor  # (B, L, D) patch-embedded input
    temb: torch.Tensor  # (B, D) time embedding (output modulation)
    timestep_proj: torch.Tensor  # (B, 6, D) per-block modulation
    context: torch.Tensor  # (B, Lc, D) text (and image) tokens
    rotary: tuple[torch.Tensor, torch.Tensor]  # Wan 3-D RoPE for the (f, h, w) grid
    grid: tuple[int, int, int]  # (f, h, w) patch grid
    latent_size: tuple[int, int, int]  # (F, H, W) of the latents


@dataclass
class BackboneOutput:
    sample: torch.Tensor  # (B, C, F, H, W) predicted flow-matching velocity
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)  # block index -> (B, L, D) block output


class WanBackbone(nn.Module):
    """Wan I2V transformer with per-block residual injection and hidden-state capture."""

    def __init__(self, transformer: nn.Module, config: BackboneConfig):
        super().__init__()
        self.transformer = transformer
        self.config = config
        tcfg = transformer.config
        self.latent_channels = int(tcfg.out_channels)
        self.mask_channels = int(tcfg.in_channels) - 2 * self.latent_channels
        if self.mask_channels < 1:
            raise ValueError(
                f"transformer in_channels={tcfg.in_channels} is not an I2V stack [latent; mask; condition] "
                f"for out_channels={tcfg.out_channels}; use an image-to-video checkpoint"
            )
        if config.learned_text:
            # One learned "prompt" and one learned null prompt stand in for UMT5 at tiny scale, so that
            # classifier-free guidance has a conditional and an unconditional branch to contrast.
            shape = (1, config.text_len, config.text_dim)
            self.text_embedding = nn.Parameter(torch.randn(shape) * 0.5)
            self.null_text_embedding = nn.Parameter(torch.zeros(shape))

    @classmethod
    def build(cls, config: BackboneConfig, latent_channels: int, mask_channels: int) -> "WanBackbone":
        """A freshly initialised backbone for a codec with ``latent_channels`` and temporal factor ``mask_channels``."""
        from diffusers import WanTransformer3DModel

        return cls(WanTransformer3DModel(**config.diffusers_kwargs(latent_channels, mask_channels)), config)

    @classmethod
    def from_diffusers(cls, path: str | Path, config: BackboneConfig | None = None,
                       torch_dtype: torch.dtype = torch.float32) -> "WanBackbone":
        """Load a diffusers-layout Wan I2V transformer from a local directory (or its ``transformer/`` subfolder)."""
        from diffusers import WanTransformer3DModel

        root = Path(path)
        if (root / "transformer" / "config.json").is_file():
            root = root / "transformer"
        if not (root / "config.json").is_file():
            raise ValueError(f"no Wan transformer at {path}: expected config.json there or in transformer/")
        transformer = WanTransformer3DModel.from_pretrained(str(root), local_files_only=True, torch_dtype=torch_dtype)
        with torch.no_grad():
            # own, aligned storage for every weight: tensors sliced from the file buffer can take other SIMD
            # kernel paths, so outputs would differ (~1e-7) from the same weights held in memory
            for param in transformer.parameters():
                param.data = param.data.clone()
        return cls(transformer, config if config is not None else config_from_transformer(transformer))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.blocks

    @property
    def inner_dim(self) -> int:
        return self.config.inner_dim

    def i2v_input(self, noisy: torch.Tensor, cond_latent: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        """Wan's channel stack: noisy (B,C,F,H,W), mask (B,T,F,H,W), condition (B,C,F,H,W) -> (B,2C+T,F,H,W)."""
        c, t = self.latent_channels, self.mask_channels
        if noisy.shape[1] != c or cond_latent.shape[1] != c or cond_mask.shape[1] != t:
            raise ValueError(
                f"backbone expects latents with {c} channels and a mask with {t}, got noisy {tuple(noisy.shape)}, "
                f"condition {tuple(cond_latent.shape)}, mask {tuple(cond_mask.shape)}"
            )
        return torch.cat([noisy, cond_mask.to(noisy.dtype), cond_latent.to(noisy.dtype)], dim=1)

    def text_context(self, batch: int, text_embeds: torch.Tensor | None, uncond: bool = False) -> torch.Tensor:
        """(B, Lt, text_dim) text tokens: the given UMT5 embeddings, or the learned ones at tiny scale."""
        if text_embeds is not None:
            return text_embeds
        if not self.config.learned_text:
            raise ValueError("this backbone needs UMT5 text embeddings (text_embeds / negative_text_embeds)")
        emb = self.null_text_embedding if uncond else self.text_embedding
        return emb.expand(batch, -1, -1)

    def embed(self, noisy: torch.Tensor, timestep: torch.Tensor, cond_latent: torch.Tensor, cond_mask: torch.Tensor,
              text_embeds: torch.Tensor | None = None, image_embeds: torch.Tensor | None = None,
              uncond: bool = False) -> BackboneState:
        """Patch-embed the I2V stack and embed time, text and image tokens (Wan's forward up to its blocks).

        noisy, cond_latent: (B, C, F, H, W); cond_mask: (B, T, F, H, W); timestep: (B,) in [0, 1000];
        text_embeds: (B, Lt, text_dim) or None (tiny scale); image_embeds: (B, 257, image_dim) or None.
        """
        tr = self.transformer
        x = self.i2v_input(noisy, cond_latent, cond_mask)
        b, _, f, h, w = x.shape
        p_t, p_h, p_w = tr.config.patch_size
        if f % p_t or h % p_h or w % p_w:
            raise ValueError(f"latent size {f}x{h}x{w} is not divisible by the patch size {tuple(tr.config.patch_size)}")
        rotary = tr.rope(x)
        tokens = tr.patch_embedding(x).flatten(2).transpose(1, 2).contiguous()
        if timestep.ndim == 0:
            timestep = timestep.expand(b)
        text = self.text_context(b, text_embeds, uncond)
        if (image_embeds is None) != (tr.condition_embedder.image_embedder is None):
            raise ValueError("image_embeds (CLIP tokens) must be given exactly when the backbone has image_dim set")
        temb, timestep_proj, context, image_ctx = tr.condition_embedder(timestep, text, image_embeds)
        timestep_proj = timestep_proj.unflatten(1, (6, -1))
        if image_ctx is not None:
            context = torch.concat([image_ctx, context], dim=1)
        return BackboneState(tokens, temb, timestep_proj, context, rotary, (f // p_t, h // p_h, w // p_w), (f, h, w))

    def run_block(self, block: nn.Module, tokens: torch.Tensor, state: BackboneState,
                  context: torch.Tensor | None = None, timestep_proj: torch.Tensor | None = None,
                  rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One Wan block (with gradient checkpointing when the transformer has it on); branches call this too."""
        args = (tokens, state.context if context is None else context,
                state.timestep_proj if timestep_proj is None else timestep_proj,
                state.rotary if rotary is None else rotary)
        if torch.is_grad_enabled() and self.transformer.gradient_checkpointing:
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def run_blocks(self, state: BackboneState, residuals: dict[int, torch.Tensor] | None = None,
                   capture: tuple[int, ...] = ()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """All blocks; ``residuals[i]`` (B, L, D) is added to block i's output; outputs of ``capture`` returned."""
        residuals = residuals or {}
        bad = [i for i in list(residuals) + list(capture) if not 0 <= i < len(self.blocks)]
        if bad:
            raise ValueError(f"block indices {bad} out of range for a {len(self.blocks)}-block backbone")
        tokens, hidden = state.tokens, {}
        for i, block in enumerate(self.blocks):
            tokens = self.run_block(block, tokens, state)
            if i in residuals:
                tokens = tokens + residuals[i].to(tokens.dtype)
            if i in capture:
                hidden[i] = tokens
        return tokens, hidden

    def project_out(self, tokens: torch.Tensor, state: BackboneState) -> torch.Tensor:
        """Wan's output norm, projection and unpatchify: (B, L, D) -> (B, C, F, H, W)."""
        tr = self.transformer
        shift, scale = (tr.scale_shift_table.to(state.temb.device) + state.temb.unsqueeze(1)).chunk(2, dim=1)
        x = (tr.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        x = tr.proj_out(x)
        b = x.shape[0]
        f, h, w = state.grid
        p_t, p_h, p_w = tr.config.patch_size
        x = x.reshape(b, f, h, w, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, cond_latent: torch.Tensor,
                cond_mask: torch.Tensor, text_embeds: torch.Tensor | None = None,
                image_embeds: torch.Tensor | None = None, residuals: dict[int, torch.Tensor] | None = None,
                capture: tuple[int, ...] = (), uncond: bool = False) -> BackboneOutput:
        """Velocity for the I2V stack (shapes as in ``embed``), with optional residuals and captured blocks."""
        state = self.embed(noisy, timestep, cond_latent, cond_mask, text_embeds, image_embeds, uncond)
        tokens, hidden = self.run_blocks(state, residuals, capture)
        return BackboneOutput(self.project_out(tokens, state), hidden)


def config_from_transformer(transformer: nn.Module) -> BackboneConfig:
    """BackboneConfig matching a loaded ``WanTransformer3DModel`` (text from outside: UMT5)."""
    c = transformer.config
    return BackboneConfig(
        patch_size=tuple(c.patch_size), num_attention_heads=c.num_attention_heads,
        attention_head_dim=c.attention_head_dim, text_dim=c.text_dim, freq_dim=c.freq_dim, ffn_dim=c.ffn_dim,
        num_layers=c.num_layers, cross_attn_norm=c.cross_attn_norm, qk_norm=c.qk_norm, eps=c.eps,
        image_dim=c.image_dim, added_kv_proj_dim=c.added_kv_proj_dim, rope_max_seq_len=c.rope_max_seq_len,
        text_len=512, learned_text=False,
    )


