"""The model contract, tested over the whole registry (as timm tests every
model it lists): every registered model builds from its name, maps clips to
logits, trains a step through the engine, saves and loads, and exports."""
import os

import pytest
import torch

from tests.engine.conftest import TINY
from topogcn.engine import Run, train
from topogcn.engine.config import load_config
from topogcn.engine.export import export_model
from topogcn.models import (
    LatentModel, SkeletonModel, create_model, has_latent_head, list_models,
)

MODELS = list_models()


def test_the_registry_holds_models_with_and_without_a_latent_head():
    built = {name: create_model(name, num_classes=3, skeleton="ntu25", num_person=1)
             for name in MODELS}
    assert any(has_latent_head(m) for m in built.values())
    assert any(not has_latent_head(m) for m in built.values())  # ST-GCN


@pytest.mark.parametrize("name", MODELS)
def test_every_model_follows_the_contract(name, tmp_path):
    model = create_model(name, num_classes=3, skeleton="ntu25", in_channels=3, num_person=1)
    assert isinstance(model, SkeletonModel) and model.num_classes == 3
    x = torch.randn(2, 1, 8, 25, 3)
    model.eval()
    logits = model(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    if isinstance(model, LatentModel):  # the latent head agrees with the logits
        out = model.encode(x)
        assert out.z.shape == (2, model.latent_dim)
        torch.testing.assert_close(model.classifier(out.z), logits)
    # one training run through the engine, its checkpoint, its export
    out = str(tmp_path / "run")
    metrics = train(load_config("synthetic", TINY + [
        f"model.name={name}", "model.kwargs={}", "trainer.epochs=1", "trainer.steps=1",
        "trainer.baselines=false"]), out).metrics
    assert 0 <= metrics["top1"] <= 1
    ckpt = os.path.join(out, "checkpoints", "best.ckpt")
    run = Run.load(ckpt)
    assert type(run.model) is type(model)
    clip = torch.randn(11, 25, 3)
    probs = run.predict_proba(clip)
    assert probs.shape == (3,) and abs(float(probs.sum()) - 1) < 1e-5
    meta = export_model(run, str(tmp_path / "m.pt"), "torchscript")
    assert meta["check"]["max_abs_prob_diff"] <= meta["check"]["allowed"]


def test_a_plain_classifier_trains_with_the_cross_entropy_alone():
    from topogcn.engine.task import ClassificationTask
    cfg = load_config("synthetic", TINY)
    model = create_model("stgcn", num_classes=3, skeleton="ntu25", num_person=1,
                         channels=[8], strides=[1])
    task = ClassificationTask(model, cfg.loss, cfg.optim, 1, 8)
    assert task.loss_fn is None and not task.latent
    x, y = torch.randn(4, 1, 8, 25, 3), torch.tensor([0, 1, 2, 0])
    terms, logits, _ = task._step((x, y), task.train_metrics, "val")
    expected = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
    torch.testing.assert_close(terms.loss, expected)
    assert float(terms.mmd) == 0 and float(terms.z_mean) == 0
