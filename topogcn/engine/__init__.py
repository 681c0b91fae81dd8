"""Training engine on PyTorch Lightning and torchmetrics."""
from topogcn.engine.checkpoint import AtomicCheckpointIO, CheckpointError, load_checkpoint_file
from topogcn.engine.config import (
    Config, ConfigError, DataConfig, LossConfig, ModelConfig, OptimConfig, TrainerConfig,
    apply_override, load_config, merge_config, parse_override,
)
from topogcn.engine.data import SkeletonDataModule, build_dataset, input_spec_for, open_dataset
from topogcn.engine.task import NonFiniteLossError, ClassificationTask
from topogcn.engine.inference import ensemble, evaluate, predict
from topogcn.engine.training import train
from topogcn.engine.trained_run import ClipClassifier, Run, build_model, load_run

__all__ = [
    "Config", "DataConfig", "ModelConfig", "LossConfig", "OptimConfig", "TrainerConfig",
    "ConfigError", "load_config", "merge_config", "apply_override", "parse_override",
    "SkeletonDataModule", "build_dataset", "open_dataset", "input_spec_for",
    "ClassificationTask", "NonFiniteLossError", "AtomicCheckpointIO", "CheckpointError",
    "load_checkpoint_file", "train", "evaluate", "predict", "ensemble", "Run", "load_run",
    "ClipClassifier", "build_model",
]
