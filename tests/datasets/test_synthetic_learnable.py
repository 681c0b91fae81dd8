"""The synthetic dataset is a miniature of the real problem: the default
GE-CN (the job of ``make run``) learns it, and clearly better than a linear
model on the raw clips.  Smaller data or fewer epochs do not separate the two
(measured: 4 classes x 12 subjects gives GE-CN 77% = linear 77%), so this
trains the default configuration (~100 s on 2 cores; in CI's slow job)."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from topogcn.engine import train
from topogcn.engine.config import load_config
from topogcn.engine.data import build_dataset


@pytest.mark.slow
def test_default_gecn_beats_linear_baseline(tmp_path):
    cfg = load_config("synthetic", ["trainer.progress_bar=false"])
    gecn = train(cfg, str(tmp_path / "run")).metrics["top1"]
    tr, te = build_dataset(cfg.data, "train"), build_dataset(cfg.data, "test")
    flat = lambda ds: torch.stack([ds[i][0] for i in range(len(ds))]).flatten(1).numpy()  # noqa
    linear = LogisticRegression(max_iter=3000).fit(flat(tr), tr.labels.numpy()).score(
        flat(te), te.labels.numpy())
    chance = 1 / tr.num_classes
    assert np.isfinite(linear) and chance < linear < 1
    assert gecn > 0.85, gecn
    assert gecn > linear + 0.3, (gecn, linear)
