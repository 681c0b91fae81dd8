import pytest

from topogcn.engine.config import load_config

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
