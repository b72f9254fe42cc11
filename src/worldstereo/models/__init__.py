"""Models: latent codecs, the Wan I2V backbone adapter, camera/GGM and SSM branches, samplers, losses, pose head."""

from .backbone import BackboneOutput, BackboneState, WanBackbone
from .camera_branch import CameraBranch, camera_condition, camera_condition_channels
from .codecs import LatentCodec, PixelUnshuffleCodec, WanVAECodec, build_codec, fold_time
from .configs import (
                      BackboneConfig,
                      CameraBranchConfig,
                      CodecConfig,
                      ModelConfig,
                      PoseHeadConfig,
                      SchedulerConfig,
                      SSMBranchConfig,
                      get_config,
)
from .encoders import CLIPImageEncoder, UMT5PromptEncoder
from .losses import dmd_generator_loss, fake_score_loss, flow_matching_loss, pointmap_loss
from .pose_head import PointmapPrediction, PoseHead
from .registration import estimate_focal, register_cameras
from .schedulers import (
                      add_noise,
                      dmd_rollout,
                      dmd_sigmas,
                      euler_sigmas,
                      guided_velocity,
                      sample_dmd,
                      sample_euler,
                      sample_training_sigma,
                      sample_unipc,
                      shift_sigma,
                      velocity_from_x,
)
from .ssm_branch import SSMBranch, SSMInputs, build_ssm_inputs, pair_frames
from .worldstereo_model import Conditioning, WorldStereoModel

__all__ = [
    "BackboneOutput", "BackboneState", "WanBackbone",
    "CameraBranch", "camera_condition", "camera_condition_channels",
    "LatentCodec", "PixelUnshuffleCodec", "WanVAECodec", "build_codec", "fold_time",
    "BackboneConfig", "CameraBranchConfig", "CodecConfig", "ModelConfig", "PoseHeadConfig", "SchedulerConfig",
    "SSMBranchConfig", "get_config",
    "CLIPImageEncoder", "UMT5PromptEncoder",
    "dmd_generator_loss", "fake_score_loss", "flow_matching_loss", "pointmap_loss",
    "PointmapPrediction", "PoseHead", "estimate_focal", "register_cameras",
    "add_noise", "dmd_rollout", "dmd_sigmas", "euler_sigmas", "guided_velocity", "sample_dmd", "sample_euler",
    "sample_training_sigma", "sample_unipc", "shift_sigma", "velocity_from_x",
    "SSMBranch", "SSMInputs", "build_ssm_inputs", "pair_frames", "Conditioning", "WorldStereoModel",
]
