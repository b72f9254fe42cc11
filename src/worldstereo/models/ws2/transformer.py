"""``Ws2Transformer``: diffusers' Wan2.1-I2V transformer plus the released WorldStereo 2.0 modules.

Its ``state_dict()`` has exactly the released key names: the backbone keys are diffusers' own
(``patch_embedding``, ``condition_embedder``, ``blocks``, ``proj_out``, ``scale_shift_table``); the new ones
are ``controlnet.*``, and for the memory variants ``camera_embedding.*`` (and ``ref_index_embedding`` when the
config asks for it). The camera variant runs the stock Wan blocks; the memory variants run the same blocks'
weights through ``memory_block`` (joint attention of reference and target tokens).

Shapes: B batch, F keyframes, h×w latent grid (H/8 × W/8), H×W pixels, R references.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed, WanTransformer3DModel

from .config import Ws2Config
from .controlnet import Ws2ControlNet
from .memory_block import memory_block_forward
from .rope import grid_rope, rope_at

# modules the release keeps in float32 when the rest is half precision (diffusers' list + the new modules,
# which the released loader creates in float32 and runs under autocast)
FP32_MODULES = ("time_embedder", "scale_shift_table", "norm1", "norm2", "norm3", "controlnet", "camera_embedding")


class Ws2Transformer(WanTransformer3DModel):
    """Wan2.1-I2V backbone + ControlNet (+ memory). Build with :meth:`from_config_ws2` (or load with ``weights.load_transformer``)."""

    _keep_in_fp32_modules = list(FP32_MODULES)
    # no diffusers CP hooks: the plan inherited from WanTransformer3DModel names modules this forward does not
    # call; ``velocity`` splits and gathers itself (see ``parallel.py``)
    _cp_plan: dict = {}

    @classmethod
    def from_config_ws2(cls, cfg: Ws2Config) -> "Ws2Transformer":
        model = cls(**cfg.wan)
        model.attach_ws2(cfg)
        return model

    def attach_ws2(self, cfg: Ws2Config) -> None:
        c = cfg.controlnet
        self.ws2 = cfg
        d_model = cfg.inner_dim
        patch = tuple(self.config.patch_size)
        self.controlnet = Ws2ControlNet(c, self.config.in_channels, patch, d_model)
        # the release starts its ControlNet patch embedding from the backbone's
        with torch.no_grad():
            self.controlnet.controlnet_patch_embedding.weight.copy_(self.patch_embedding.weight)
            self.controlnet.controlnet_patch_embedding.bias.copy_(self.patch_embedding.bias)
        self.controlnet_rope = WanRotaryPosEmbed(c.dim // c.num_heads, patch, self.config.rope_max_seq_len)
        self.camera_embedding = None
        if cfg.memory and c.main_camera_embedding:
            last = nn.Linear(d_model, d_model)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.camera_embedding = nn.Sequential(nn.Linear(c.camera_embedding_dim, d_model // 2), nn.SiLU(),
                                                  nn.Linear(d_model // 2, d_model), nn.SiLU(), last)
        if cfg.memory and c.ref_embedding:
            self.ref_index_embedding = nn.Embedding(21, d_model)
            nn.init.zeros_(self.ref_index_embedding.weight)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        """See :meth:`velocity`. With half-precision weights the call runs under autocast at that precision,
        as the release runs (its scripts wrap the whole pipeline in bf16 autocast), so that the float32
        modules (ControlNet, camera MLP, time embedding) take half inputs and give half outputs."""
        half = self.patch_embedding.weight.dtype
        if half == torch.float32:
            return self.velocity(*args, **kwargs)
        with torch.autocast(self.patch_embedding.weight.device.type, dtype=half):
            return self.velocity(*args, **kwargs)

    def velocity(self, hidden_states: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                encoder_hidden_states_image: Optional[torch.Tensor] = None, *, render_latent: torch.Tensor,
                render_mask: torch.Tensor, plucker: Optional[torch.Tensor] = None,
                reference_latent: Optional[torch.Tensor] = None, ref_index: Optional[torch.Tensor] = None,
                camera_qt: Optional[torch.Tensor] = None, camera_qt_ref: Optional[torch.Tensor] = None
                ) -> torch.Tensor:
        """Velocity ``[B, 16, F, h, w]``.

        hidden_states ``[B, 36, F, h, w]`` (noisy 16 | frame mask 4 | condition 16); timestep ``[B]`` (the
        value the sampler passes: integer for UniPC, float for DMD); encoder_hidden_states ``[B, 512, text_dim]``;
        encoder_hidden_states_image ``[B, N, image_dim]``; render_latent ``[B, 16, F, h, w]``; render_mask
        ``[B, 1, F, H, W]`` (1 = hole); plucker ``[B, 6, F, H, W]``; memory only: reference_latent
        ``[B, 36, R, h, w]``, ref_index ``[R]`` (target keyframe i-1 that retrieved reference j),
        camera_qt ``[B, F, 7]``, camera_qt_ref ``[B, R, 7]``."""
        cfg = self.ws2
        if cfg.memory and (reference_latent is None or ref_index is None):
            raise ValueError(f"ws2 variant {cfg.variant!r} needs reference_latent and ref_index")
        b, _, frames, h, w = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        ft, rows, cols = frames // p_t, h // p_h, w // p_w

        stem = render_mask if plucker is None else torch.cat([render_mask, plucker], dim=1)
        control_tokens = self.controlnet.embed(torch.cat([hidden_states[:, :20], render_latent], dim=1), stem)
        control_rope = grid_rope(self.controlnet_rope, ft, rows, cols)

        tokens = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2)
        rope = grid_rope(self.rope, ft, rows, cols)
        refs = ref_rope = None
        if cfg.memory:
            refs = self.patch_embedding(reference_latent).flatten(2).transpose(1, 2)
            # references sit on the right half of a double-width grid, at the time of the target that
            # retrieved them (+1: target keyframe 0 is the input image)
            dev = self.rope.freqs_cos.device
            ref_rope = rope_at(self.rope, ref_index.to(dev) + 1, rows, torch.arange(cols, 2 * cols, device=dev))
            if self.camera_embedding is not None:
                if camera_qt is not None:
                    tokens = tokens + self._per_frame(self.camera_embedding(camera_qt), rows * cols)
                if camera_qt_ref is not None:
                    refs = refs + self._per_frame(self.camera_embedding(camera_qt_ref), rows * cols)

        temb, timestep_proj, context, context_image = self.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len=None)
        timestep_proj = timestep_proj.unflatten(1, (6, -1))
        if context_image is not None:
            context = torch.cat([context_image, context], dim=1)

        parallel = self._parallel_config
        if parallel is not None:  # context parallelism: this rank keeps its 1/N of every token sequence
            from .parallel import shard

            tokens, control_tokens = shard(tokens, parallel), shard(control_tokens, parallel)
            rope = tuple(shard(r, parallel) for r in rope)
            control_rope = tuple(shard(r, parallel) for r in control_rope)
            if refs is not None:
                refs = shard(refs, parallel)
                ref_rope = tuple(shard(r, parallel) for r in ref_rope)

        residuals = self.controlnet.residuals(control_tokens, temb, control_rope)
        n_control = len(self.controlnet.controlnet_blocks)
        ref_in = refs
        for i, block in enumerate(self.blocks):
            if cfg.memory:
                tokens, refs = memory_block_forward(block, tokens, refs if cfg.controlnet.update_ref else ref_in,
                                                    context, timestep_proj, rope, ref_rope)
            else:
                tokens = block(tokens, context, timestep_proj, rope)
            if i < n_control:  # residuals go into DiT blocks 0 .. num_layers-1 only
                tokens = tokens + next(residuals).to(tokens.dtype)

        shift, scale = (self.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
        tokens = (self.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        out = self.proj_out(tokens)
        if parallel is not None:
            from .parallel import gather

            out = gather(out, parallel)
        out = out.reshape(b, ft, rows, cols, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return out.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    @staticmethod
    def _per_frame(emb: torch.Tensor, per_frame: int) -> torch.Tensor:
        """``[B, F, D]`` -> ``[B, F*per_frame, D]``: one embedding for every token of its frame."""
        return emb.repeat_interleave(per_frame, dim=1)
