"""Tiny random instances of the transformers depth-model classes, saved with a processor, for
offline tests of the ``transformers`` depth backend (no weights are downloaded)."""

from __future__ import annotations

from pathlib import Path

_VIT = dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32)


def _dpt(_):
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    cfg = DPTConfig(**_VIT, image_size=32, patch_size=8, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
                    backbone_out_indices=[0, 1, 2, 3], head_in_index=-1)
    return DPTForDepthEstimation(cfg), DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False)


def _depth_anything(kind):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    bb = Dinov2Config(**_VIT, image_size=28, patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"],
                      reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=bb.to_dict(), neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
                              head_hidden_size=8, reassemble_hidden_size=16, patch_size=14,
                              depth_estimation_type=kind, max_depth=20)
    proc = DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=False, ensure_multiple_of=14)
    return DepthAnythingForDepthEstimation(cfg), proc


def _zoedepth(_):
    from transformers import BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation

    bb = BeitConfig(**_VIT, image_size=32, patch_size=8, out_indices=[0, 1, 2, 3], use_relative_position_bias=True,
                    reshape_hidden_states=False)
    cfg = ZoeDepthConfig(backbone_config=bb.to_dict(), neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
                         bottleneck_features=8, num_relative_features=8, bin_embedding_dim=8, num_attractors=[4, 2, 2, 1],
                         bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0, "name": "nyu"}],
                         patch_transformer_hidden_size=8, patch_transformer_intermediate_size=16,
                         patch_transformer_num_attention_heads=2)
    from transformers import ZoeDepthImageProcessorPil as Proc

    return ZoeDepthForDepthEstimation(cfg), Proc(size={"height": 32, "width": 32}, keep_aspect_ratio=False,
                                                  ensure_multiple_of=8)


def _depth_pro(_):
    from transformers import DepthProConfig, DepthProForDepthEstimation

    sub = dict(model_type="dinov2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
               image_size=32, patch_size=8)
    cfg = DepthProConfig(fusion_hidden_size=16, patch_size=32, intermediate_hook_ids=[1, 0],
                         intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.5, 1.0],
                         scaled_images_overlap_ratios=[0.0, 0.25], scaled_images_feature_dims=[8, 8], use_fov_model=True,
                         image_model_config=sub, patch_model_config=sub, fov_model_config=sub)
    # DepthProImageProcessor needs torchvision (not allowed here): save its config as the hub does.
    return DepthProForDepthEstimation(cfg), _ProcessorConfig({"image_processor_type": "DepthProImageProcessor",
                                                              "size": {"height": 64, "width": 64}, "do_rescale": True,
                                                              "rescale_factor": 1 / 255, "do_normalize": True,
                                                              "image_mean": [0.5] * 3, "image_std": [0.5] * 3})


class _ProcessorConfig:
    def __init__(self, cfg: dict):
        self.cfg = cfg

    def save_pretrained(self, folder: Path) -> None:
        import json

        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "preprocessor_config.json").write_text(json.dumps(self.cfg))


BUILDERS = {
    "dpt": (_dpt, None),
    "depth-anything-relative": (_depth_anything, "relative"),
    "depth-anything-metric": (_depth_anything, "metric"),
    "zoedepth": (_zoedepth, None),
    "depth-pro": (_depth_pro, None),
}


def save_tiny_depth_model(name: str, folder: Path, seed: int = 0) -> Path:
    """Build the tiny random model ``name`` (a key of BUILDERS) and save it with its processor."""
    import torch

    torch.manual_seed(seed)
    build, arg = BUILDERS[name]
    model, proc = build(arg)
    folder = Path(folder) / name
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder
