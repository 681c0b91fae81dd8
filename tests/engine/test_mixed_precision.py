"""Mixed precision as the official recipe: 16-mixed (float16 with a loss
scaler) skips overflowed steps as apex AMP does, bf16-mixed without a GPU,
and the divergence stop that goes with each."""
import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from tests.engine.conftest import TINY
from topogcn.engine.config import LossConfig, OptimConfig, load_config
from topogcn.engine.task import MAX_SKIPPED_STEPS, ClassificationTask, NonFiniteLossError
from topogcn.engine.training import effective_precision, train
from topogcn.models import LatentOutput


class TinyLatent(torch.nn.Module):
    """A latent model whose log-variance is the input's last feature (so
    that a batch can make it overflow) and whose loss turns NaN on an
    infinite input."""
    num_classes, latent_dim, noise_ratio = 2, 4, 0.5

    def __init__(self):
        super().__init__()
        self.encoder, self.classifier = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)

    def encode(self, x):
        z = self.encoder(x)
        return LatentOutput(z, z, x[:, 2:3].expand(-1, 4))

    def forward(self, x):
        return self.classifier(self.encode(x).z)


def fit(batches, scaler: bool, epochs: int = 1):
    """Train TinyLatent on ``batches`` (each: 'ok', 'overflow' or 'nan'),
    with or without a float16 loss scaler."""
    xs = []
    for kind in batches:
        x = torch.randn(2, 3) * 0.1
        x[:, 2] = {"ok": 0.0, "overflow": 400.0, "nan": 0.0}[kind]
        if kind == "nan":
            x[:, 0] = float("inf")
        xs.append(x)
    data = TensorDataset(torch.cat(xs), torch.tensor([0, 1] * len(batches)))
    torch.manual_seed(0)
    model = TinyLatent()
    task = ClassificationTask(model, LossConfig(), OptimConfig(lr=0.01, warmup_epochs=0),
                              epochs, 2)
    plugins = [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))] \
        if scaler else []
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, plugins=plugins, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.fit(task, DataLoader(data, batch_size=2))
    return trainer, model, before


def test_without_a_scaler_the_first_overflow_stops_the_run():
    with pytest.raises(NonFiniteLossError, match="diverged at epoch 1, step 1: the latent "
                                                 "log-variance reached 400"):
        fit(["ok", "overflow", "ok"], scaler=False)
    with pytest.raises(NonFiniteLossError, match="diverged at epoch 1, step 1: the training "
                                                 "loss is nan"):
        fit(["ok", "nan", "ok"], scaler=False)


def test_with_a_scaler_overflowed_steps_are_skipped_and_the_run_goes_on():
    trainer, model, before = fit(["ok", "overflow", "nan", "ok"], scaler=True)
    assert trainer.state.finished
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not torch.equal(model.encoder.weight, before["encoder.weight"])  # ok steps stepped
    # the NaN step went to the scaler, which skipped it and lowered its scale
    assert trainer.precision_plugin.scaler.get_scale() < 65536.0


def test_with_a_scaler_a_run_that_never_recovers_stops():
    epochs = MAX_SKIPPED_STEPS // 4 + 1
    with pytest.raises(NonFiniteLossError, match=f"the loss scaler skipped the last "
                                                 f"{MAX_SKIPPED_STEPS} steps"):
        fit(["overflow"] * 4, scaler=True, epochs=epochs)


def test_16_mixed_runs_as_bf16_without_a_gpu(tmp_path, capsys):
    cfg = load_config("synthetic", TINY + ["trainer.precision=16-mixed", "trainer.epochs=1"])
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: 16-mixed runs as float16 there")
    assert effective_precision(cfg.trainer) == "bf16-mixed"
    train(cfg, str(tmp_path / "run"))
    assert "16-mixed (float16 with a loss scaler) needs a CUDA GPU; this run uses bf16-mixed" \
        in capsys.readouterr().out
    for name in ("paper-smg", "paper-imigue", "synthetic-paper", "ntu60-xsub"):
        assert load_config(name).trainer.precision == "16-mixed"
