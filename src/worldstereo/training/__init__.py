"""Training stages of WorldStereo (DESIGN §2): base, camera, ggm, ssm, dmd, pose."""

from .config import PRESETS, STAGES, DataConfig, StageConfig, TrainConfig, get_preset
from .data import Batch, ClipShards, StageSampler
from .pipeline import load_train_config, make_data, train_all
from .trainer import StageResult, train_stage

__all__ = ["PRESETS", "STAGES", "Batch", "ClipShards", "DataConfig", "StageConfig", "StageResult", "StageSampler",
           "TrainConfig", "get_preset", "load_train_config", "make_data", "train_all", "train_stage"]
