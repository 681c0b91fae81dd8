"""Training engine on PyTorch Lightning and torchmetrics."""
from topogcn.engine.checkpoint import AtomicCheckpointIO, CheckpointError, load_checkpoint_file
from topogcn.engine.config import (
    Config, ConfigError, DataConfig, LossConfig, ModelConfig, OptimConfig, TrainerConfig,
    load_config,
)
from topogcn.engine.data import SkeletonDataModule, build_dataset
from topogcn.engine.module import NonFiniteLossError, SkeletonClassifier
from topogcn.engine.run import ensemble, evaluate, load_run, predict, train

__all__ = [
    "Config", "DataConfig", "ModelConfig", "LossConfig", "OptimConfig", "TrainerConfig",
    "ConfigError", "load_config", "SkeletonDataModule", "build_dataset", "SkeletonClassifier",
    "NonFiniteLossError", "AtomicCheckpointIO", "CheckpointError", "load_checkpoint_file",
    "train", "evaluate", "predict", "ensemble", "load_run",
]
