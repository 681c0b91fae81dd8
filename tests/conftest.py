import os

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """The best checkpoint of one tiny synthetic run (two epochs, seconds),
    shared by the tests that need a trained model and do not change it."""
    from tests.engine.conftest import TINY
    from topogcn.engine import train
    from topogcn.engine.config import load_config

    out = str(tmp_path_factory.mktemp("tiny") / "run")
    train(load_config("synthetic", TINY), out)
    return os.path.join(out, "checkpoints", "best.ckpt")
