"""Model configurations as dataclasses, and the two named scales (DESIGN §2).

``tiny`` runs on a CPU in milliseconds per step and is what the tests and the demo use;
``wan2.1-i2v-14b`` carries the shapes of the public Wan2.1-I2V-14B checkpoint (diffusers layout) so
the same code loads and runs it on a GPU. Every config round-trips through ``to_dict``/``from_dict``
(that is what ``config.json`` of a saved model holds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


PREDICTIONS = ("velocity", "x")
X_BASES = ("none", "render")


@dataclass
class CodecConfig:
    """Latent codec choice."""

    kind: str = "pixel_unshuffle"
    """``"pixel_unshuffle"`` (lossless, tiny scale) or ``"wan_vae"`` (AutoencoderKLWan from ``path``)."""
    factor: int = 4
    """Spatial factor of the pixel-unshuffle codec (latent channels = 3·factor²)."""
    path: str | None = None
    """Local diffusers-layout directory of the Wan VAE (``vae/`` subfolder or the VAE itself)."""
    channels: int = 16
    """Latent channels of the Wan VAE (z_dim); ignored by pixel-unshuffle."""
    spatial_factor: int = 8
    """Spatial compression of the Wan VAE; ignored by pixel-unshuffle."""
    temporal_factor: int = 4
    """Temporal compression of the Wan VAE; ignored by pixel-unshuffle (always 1)."""


@dataclass
class BackboneConfig:
    """Arguments of diffusers' ``WanTransformer3DModel`` except the channel counts, which follow the codec."""

    patch_size: tuple[int, int, int] = (1, 2, 2)
    num_attention_heads: int = 40
    attention_head_dim: int = 128
    text_dim: int = 4096
    freq_dim: int = 256
    ffn_dim: int = 13824
    num_layers: int = 40
    cross_attn_norm: bool = True
    qk_norm: str | None = "rms_norm_across_heads"
    eps: float = 1e-6
    image_dim: int | None = None
    """CLIP image-token width (1280 for Wan I2V); ``None`` drops image conditioning (tiny scale)."""
    added_kv_proj_dim: int | None = None
    rope_max_seq_len: int = 1024
    text_len: int = 512
    """Text tokens per prompt (UMT5: 512, which diffusers' I2V attention assumes when image tokens are used)."""
    learned_text: bool = False
    """Tiny scale: learned prompt and null embeddings stand in for UMT5 (there is one "prompt")."""

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    def diffusers_kwargs(self, latent_channels: int, mask_channels: int) -> dict[str, Any]:
        """``WanTransformer3DModel`` kwargs: input = [noisy latent, first-frame mask, condition latent]."""
        return dict(
            patch_size=tuple(self.patch_size), num_attention_heads=self.num_attention_heads,
            attention_head_dim=self.attention_head_dim, in_channels=2 * latent_channels + mask_channels,
            out_channels=latent_channels, text_dim=self.text_dim, freq_dim=self.freq_dim, ffn_dim=self.ffn_dim,
            num_layers=self.num_layers, cross_attn_norm=self.cross_attn_norm, qk_norm=self.qk_norm, eps=self.eps,
            image_dim=self.image_dim, added_kv_proj_dim=self.added_kv_proj_dim,
            rope_max_seq_len=self.rope_max_seq_len,
        )


@dataclass
class CameraBranchConfig:
    """Camera / GGM ControlNet branch (Uni3C style)."""

    enabled: bool = True
    n_layers: int = 2
    init_from_backbone: bool = True
    """Copy the backbone's first ``n_layers`` blocks (ControlNet) instead of a fresh initialisation
    (needs the backbone's width: ``dim=None``)."""
    dim: int | None = None
    """Width of the branch's blocks; None = the backbone's. Uni3C's lightweight ControlNet: 1024 beside 5120."""
    num_heads: int | None = None
    """Attention heads of the branch (None: the backbone's head size, i.e. dim / attention_head_dim)."""
    ffn_dim: int | None = None
    """FFN width of the branch (None: the backbone's FFN ratio at the branch's width)."""


@dataclass
class SSMBranchConfig:
    """Spatial-Stereo Memory branch: pair-restricted attention over stitched target|reference latents."""

    enabled: bool = True
    n_layers: int = 20
    """The paper uses 20 blocks trained from scratch next to a 40-block backbone."""
    pair_stride: int = 4
    """One target-reference pair for every ``pair_stride``-th target pose (paper: F = N/4)."""
    dim: int | None = None
    """Width of the branch's blocks; None = the backbone's (see CameraBranchConfig.dim)."""
    num_heads: int | None = None
    ffn_dim: int | None = None


@dataclass
class PoseHeadConfig:
    """JOG3R pose head: DUSt3R-style decoder on one block's hidden states."""

    enabled: bool = True
    feature_block: int = 20
    """Index of the backbone block whose output the head reads."""
    t_small: float = 0.1
    """Diffusion time σ at which features are read (V2C noises the video to this σ)."""
    dec_dim: int = 256
    dec_depth: int = 4
    dec_heads: int = 8
    conf_alpha: float = 0.2
    """α of L_rec (DUSt3R's value; the JOG3R paper does not state its own)."""


@dataclass
class SchedulerConfig:
    """Flow matching with Wan's timestep shift, teacher and DMD samplers."""

    shift: float = 5.0
    num_train_timesteps: int = 1000
    teacher_steps: int = 40
    guidance_scale: float = 5.0
    dmd_steps: int = 4
    dmd_t_start: float = 250.0
    """DMD σ grid: ``t = linspace(dmd_t_start, 1000, dmd_steps)`` reversed, then shifted."""


@dataclass
class ModelConfig:
    """Everything needed to rebuild a WorldStereoModel (weights apart)."""

    name: str = "custom"
    height: int = 480
    width: int = 832
    num_frames: int = 81
    codec: CodecConfig = field(default_factory=CodecConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    camera: CameraBranchConfig = field(default_factory=CameraBranchConfig)
    ssm: SSMBranchConfig = field(default_factory=SSMBranchConfig)
    pose: PoseHeadConfig = field(default_factory=PoseHeadConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    dmd_generator: bool = False
    """The bundle carries a DMD-distilled few-step generator backbone (``dmd_backbone``) next to the teacher's."""
    default_sampler: str | None = None
    """Sampler the generator backends use when none is asked for (``euler``, ``unipc``, ``dmd``; None = euler)."""
    default_base_fill: str | None = None
    """Render-residual models: how generator backends fill the render's holes for the base (``telea``: per
    frame, as in training; ``warp``: the warp backend's frames, whose fills persist across frames; None = telea)."""
    prediction: str = "velocity"
    """What the backbone's output means: ``"velocity"`` (ε - x0, Wan's) or ``"x"`` (the clean latents, JiT:
    a narrow network cannot carry a noise-like target through a 192-number token, a clean image it can).
    Either way ``WorldStereoModel.forward`` returns the velocity, so losses and samplers are unchanged."""
    x_sigma_min: float = 0.05
    """x-prediction: the velocity ``(x_σ - x̂0) / σ`` divides by at least this σ (JiT clips it the same way)."""
    x_correct: str = "all"
    """Render-residual models: where the backbone's correction applies, ``"all"`` latent pixels or only the
    ``"holes"``: x̂0 = base + (1 - coverage)·output, so what the cache shows stays the cache's render (GGM's
    consistency) and the network paints the disocclusions."""
    x_base: str = "none"
    """x-prediction around a guess: ``"render"`` makes x̂0 = ``Conditioning.base`` + backbone output, the base
    being the latents of the Cache3D render with its holes filled (``render_base``), so the condition acts
    from the first training step and the network learns the render's corrections and the holes' contents;
    ``"none"``: x̂0 = the output."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        parts = {"codec": CodecConfig, "backbone": BackboneConfig, "camera": CameraBranchConfig,
                 "ssm": SSMBranchConfig, "pose": PoseHeadConfig, "scheduler": SchedulerConfig}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"model config: unknown keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        kwargs = dict(d)
        if kwargs.get("prediction", "velocity") not in PREDICTIONS:
            raise ValueError(f"model config: prediction {kwargs['prediction']!r}; choose one of {PREDICTIONS}")
        if kwargs.get("default_base_fill") not in (None, "telea", "warp"):
            raise ValueError(f"model config: default_base_fill {kwargs['default_base_fill']!r}; choose 'telea' or 'warp'")
        if kwargs.get("x_correct", "all") not in ("all", "holes"):
            raise ValueError(f"model config: x_correct {kwargs['x_correct']!r}; choose 'all' or 'holes'")
        if kwargs.get("x_base", "none") not in X_BASES:
            raise ValueError(f"model config: x_base {kwargs['x_base']!r}; choose one of {X_BASES}")
        if kwargs.get("x_base", "none") != "none" and kwargs.get("prediction", "velocity") != "x":
            raise ValueError("model config: x_base needs prediction 'x' (it is the base of the predicted x0)")
        for key, sub in parts.items():
            if key in kwargs:
                kwargs[key] = _sub_from_dict(sub, kwargs[key], key)
        return cls(**kwargs)


def _sub_from_dict(sub: type, d: dict[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(sub)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"model config [{where}]: unknown keys {sorted(unknown)}; expected a subset of {sorted(known)}")
    obj = sub(**d)
    if isinstance(obj, BackboneConfig):
        obj.patch_size = tuple(obj.patch_size)  # JSON turns tuples into lists
    return obj


def tiny_config() -> ModelConfig:
    """CPU scale: 64×64 px, 9 frames, pixel-unshuffle ×4 -> 48×16×16 latents, 8×8 tokens per frame.

    Backbone: 4 Wan blocks of width 256 (4 heads × 64), ~3.9 M parameters: the width must exceed the
    192 outputs per token (48 channels × 2×2 patch), or the output projection's rank caps how well a
    noise-like velocity can be fitted. Both branches are lightweight like Uni3C's ControlNet (20 blocks of
    width 1024 beside 40 of 5120): 2 blocks each (the paper's 20/40 ratio) of width 48 (about Uni3C's
    1/5 of the backbone's; one head, FFN 128), from scratch; no CLIP image tokens (``image_dim=None``), a learned prompt/null pair instead of UMT5.
    One forward+backward step with both branches takes ~0.25 s on one CPU thread (benchmarks/bench_model.py).
    """
    return ModelConfig(
        name="tiny", height=64, width=64, num_frames=9,
        codec=CodecConfig(kind="pixel_unshuffle", factor=4),
        backbone=BackboneConfig(
            patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=64, text_dim=32, freq_dim=32,
            ffn_dim=512, num_layers=4, rope_max_seq_len=64, text_len=8, learned_text=True,
        ),
        camera=CameraBranchConfig(n_layers=2, init_from_backbone=False, dim=48, num_heads=1),
        ssm=SSMBranchConfig(n_layers=2, pair_stride=4, dim=48, num_heads=1),
        pose=PoseHeadConfig(feature_block=2, t_small=0.1, dec_dim=64, dec_depth=2, dec_heads=4),
        # one learned prompt: the conditional and null velocities differ little, and a large CFG scale
        # only amplifies that difference's noise; 2.0 is the tiny teacher's (and DMD real score's) scale
        scheduler=SchedulerConfig(shift=3.0, guidance_scale=2.0),
    )


def tiny_v2_config() -> ModelConfig:
    """CPU scale, second design (issue 14): 128×128 px, 13 frames, x-prediction around the filled render.

    Pixel-unshuffle ×8 gives 192×16×16 latents and, with Wan's 2×2 patch, 8×8 tokens of 768 numbers per
    frame: as many tokens per frame as ``tiny`` at 4× its pixels. A width-256 network cannot output a
    768-number noise-like velocity per token, but it can output a clean image patch (JiT), so the backbone
    predicts x0 and is trained with the velocity loss (``prediction="x"``). It predicts x0 as a correction of
    the Cache3D render with its holes filled (``x_base="render"``), which its I2V condition channels carry
    with the render's coverage as mask: a model that has learned nothing returns the filled render (the
    ``warp`` baseline's kind of frame, never noise), and training teaches it what the fill gets wrong.
    Branches and pose head as ``tiny``.
    """
    cfg = tiny_config()
    cfg.name, cfg.height, cfg.width, cfg.num_frames = "tiny-v2", 128, 128, 13
    cfg.codec = CodecConfig(kind="pixel_unshuffle", factor=8)
    cfg.prediction = "x"
    cfg.x_base = "render"
    return cfg


def wan21_i2v_14b_config(model_dir: str | None = None) -> ModelConfig:
    """Shapes of the public Wan2.1-I2V-14B (480p) with the paper's branch sizes.

    Camera branch as Uni3C's lightweight ControlNet (20 blocks, width 1024, 16 heads, trained from
    scratch); the SSM branch is the paper's 20 blocks, at the same ControlNet width (the paper does
    not state it; its camera ControlNet is Uni3C's).
    """
    return ModelConfig(
        name="wan2.1-i2v-14b", height=480, width=832, num_frames=81,
        codec=CodecConfig(kind="wan_vae", path=None if model_dir is None else f"{model_dir}/vae"),
        backbone=BackboneConfig(
            patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, text_dim=4096, freq_dim=256,
            ffn_dim=13824, num_layers=40, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
            image_dim=1280, added_kv_proj_dim=5120, rope_max_seq_len=1024, text_len=512, learned_text=False,
        ),
        camera=CameraBranchConfig(n_layers=20, init_from_backbone=False, dim=1024, num_heads=16),
        ssm=SSMBranchConfig(n_layers=20, pair_stride=4, dim=1024, num_heads=16),
        pose=PoseHeadConfig(feature_block=20, t_small=0.1, dec_dim=768, dec_depth=6, dec_heads=12),
        scheduler=SchedulerConfig(shift=5.0),
    )


CONFIGS = {"tiny": tiny_config, "tiny-v2": tiny_v2_config, "wan2.1-i2v-14b": wan21_i2v_14b_config}


def get_config(name: str) -> ModelConfig:
    """A named config (``tiny`` or ``wan2.1-i2v-14b``)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[name]()
