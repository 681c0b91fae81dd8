"""Long-tailed data: class weights, class-balanced sampling, the weighted
loss and the long-tailed synthetic variant."""
import math

import pytest
import torch
from lightning.pytorch import Callback

from tests.engine.conftest import TINY
from topogcn.datasets.synthetic import SyntheticMicroGestures
from topogcn.engine.config import ConfigError, load_config
from topogcn.engine.data import EpochShuffleSampler, class_balance_weights
from topogcn.engine.training import train
from topogcn.models import LatentMMDLoss


def test_weights_by_hand():
    labels = torch.tensor([0, 0, 0, 0, 1])  # class 2 has no clip: counted as one
    inverse = class_balance_weights(labels, 3, "inverse")  # [1/4, 1, 1] / mean 2/5
    torch.testing.assert_close(inverse, torch.tensor([0.625, 2.5, 2.5]))
    sqrt = class_balance_weights(labels, 3, "sqrt")  # [1/2, 1, 1] / mean 3/5
    torch.testing.assert_close(sqrt, torch.tensor([5 / 6, 5 / 3, 5 / 3]))
    assert float(sqrt[labels].mean()) == pytest.approx(1.0)
    assert torch.equal(class_balance_weights(labels, 3, "none"), torch.ones(3))


def test_balanced_sampler_evens_out_classes_and_is_reproducible():
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    weights = class_balance_weights(labels, 3, "inverse")[labels]
    seen = torch.zeros(3)
    for epoch in range(30):
        sampler = EpochShuffleSampler(100, seed=7, weights=weights)
        sampler.set_epoch(epoch)
        order = [i - epoch * 100 for i in sampler]
        assert len(order) == 100 and all(0 <= i < 100 for i in order)
        again = EpochShuffleSampler(100, seed=7, weights=weights)
        again.set_epoch(epoch)
        assert [i - epoch * 100 for i in again] == order
        seen += torch.bincount(labels[order], minlength=3)
    share = seen / seen.sum()
    assert (share - 1 / 3).abs().max() < 0.04, share  # 90:9:1 drawn about 1:1:1
    plain = EpochShuffleSampler(100, seed=7)
    assert sorted(plain) == list(range(100))  # a permutation without weights


def test_weighted_loss_against_hand_computation():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2], [-0.5, 1.5, 0.0],
                           [0.0, 0.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 2])
    w = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    loss = LatentMMDLoss(3, 2, label_smoothing=0.0, mmd_weight=0.0, z_mean_weight=0.0,
                         class_weight=w)
    nll = [-math.log(math.exp(row[c]) / sum(math.exp(v) for v in row))
           for row, c in zip(logits.tolist(), y.tolist())]
    expect = sum(float(w[c]) * v for c, v in zip(y.tolist(), nll)) / float(w[y].sum())
    got = loss(logits, torch.zeros(4, 2, dtype=torch.float64), y).cls
    assert float(got) == pytest.approx(expect, rel=1e-12)
    assert "class_weight" not in loss.state_dict()  # derived from the data, not saved
    with pytest.raises(ValueError, match=r"class_weight must have shape \[3\]"):
        LatentMMDLoss(3, 2, class_weight=torch.ones(4))


def test_long_tailed_synthetic_variant():
    plain = SyntheticMicroGestures("test", num_subjects=6, test_subjects=2, gestures_per_class=8)
    assert torch.equal(plain.labels, SyntheticMicroGestures(
        "test", num_subjects=6, test_subjects=2, gestures_per_class=8, imbalance=1).labels)
    tail = SyntheticMicroGestures("test", num_subjects=6, test_subjects=2, gestures_per_class=8,
                                  imbalance=10)
    expect = [2 * max(1, round(8 * 10 ** (-c / 9))) for c in range(10)]
    assert torch.bincount(tail.labels).tolist() == expect == [16, 12, 10, 8, 6, 4, 4, 2, 2, 2]
    with pytest.raises(ValueError, match="imbalance must be a ratio between 1 and 1000"):
        SyntheticMicroGestures("test", imbalance=0.5)


def test_a_run_with_weights_and_balanced_sampling(tmp_path):
    cfg = load_config("synthetic", TINY + [
        "data.options={num_subjects: 4, test_subjects: 1, gestures_per_class: 4, "
        "num_classes: 3, imbalance: 4}", "loss.class_weights=sqrt",
        "data.class_sampling=inverse", "trainer.epochs=1"])
    seen = {}

    class Probe(Callback):
        def on_train_start(self, trainer, module):
            seen["weight"] = module.class_weight.clone()
            seen["loss_weight"] = module.loss_fn.class_weight.clone()
            seen["train_labels"] = trainer.datamodule.train_set.labels
            seen["sampler"] = trainer.train_dataloader.sampler.weights

    m = train(cfg, str(tmp_path / "run"), callbacks=[Probe()]).metrics
    labels = seen["train_labels"]
    expect = class_balance_weights(labels, 3, "sqrt")
    assert torch.equal(seen["weight"], expect) and torch.equal(seen["loss_weight"], expect)
    torch.testing.assert_close(seen["sampler"].float(),
                               class_balance_weights(labels, 3, "inverse")[labels])
    # 4, 2 and 1 clips of the classes per subject; one of 3 training subjects validates
    assert 0 <= m["mean_class_accuracy"] <= 1 and m["num_train"] == 2 * (4 + 2 + 1)
    with pytest.raises(ConfigError, match="'loss.class_weights' must be one of none, inverse, "
                                          "sqrt"):
        load_config("synthetic", ["loss.class_weights=balanced"])
    for name in ("paper-smg", "paper-imigue"):  # off in the paper configs
        cfg = load_config(name)
        assert cfg.loss.class_weights == "none" and cfg.data.class_sampling == "uniform"
