import pytest
import torch

from topogcn.engine import build_model
from topogcn.engine.checkpoint import seal_checkpoint
from topogcn.engine.config import load_config
from topogcn.engine.data import build_dataset
from topogcn.engine.trained_run import CKPT_KEY, run_payload
from topogcn.transforms import InputSpec

TINY = [
    "data.frames=8", "data.batch_size=8", "data.center=per_frame",
    "data.options={num_subjects: 4, test_subjects: 1, gestures_per_class: 2, num_classes: 3}",
    "model.kwargs={channels: [8, 8], strides: [1, 2]}",
    "trainer.epochs=2", "trainer.progress_bar=false", "trainer.threads=1",
]


@pytest.fixture()
def tiny_overrides():
    return list(TINY)


@pytest.fixture()
def tiny_cfg():
    return load_config("synthetic", TINY)


def untrained_checkpoint(path, stream, channels=("x", "y", "z"), **spec_kwargs):
    """A checkpoint of an untrained compact GE-CN with ``stream`` input:
    enough to test the input contract, in milliseconds."""
    cfg = load_config("synthetic", TINY + [f"data.stream={stream}", "data.center=first_frame"])
    ds = build_dataset(cfg.data, "test")
    kw = dict(persons=1, frames=8, center="first_frame", normalize_scale=True, stream=stream)
    kw.update(spec_kwargs)
    spec = InputSpec(ds.skeleton, channels, tuple(ds.classes), **kw)
    torch.manual_seed(0)
    model = build_model(cfg, spec).eval()
    for m in model.modules():  # a trained-looking model: non-trivial batch-norm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save(seal_checkpoint({"state_dict": state, CKPT_KEY: run_payload(cfg, spec)}), path)
    return str(path)
