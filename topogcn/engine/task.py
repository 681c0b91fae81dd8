"""The LightningModule that trains any :mod:`topogcn.models` model."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from topogcn.engine.config import ConfigError, LossConfig, OptimConfig
from topogcn.models import LatentMMDLoss, LossTerms
from topogcn.models.interface import has_latent_head
from topogcn.nn import fuse


#: weight of the validation cross-entropy in ``val/selection`` (top-1 minus
#: this times the mean cross-entropy, capped at 5): small enough never to
#: outweigh one clip of top-1 on sets of up to 10,000 validation clips
SELECTION_TIE_BREAK = 1e-5


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite, or the latent log-variance beyond
    what float32 can exponentiate (training diverged); the run stops, the
    last good checkpoint is kept."""


#: the largest float32 exponent whose ``exp`` is finite
_EXP_OVERFLOW = 88.72
#: with a loss scaler (``16-mixed`` on a GPU), overflowed steps are skipped
#: as the reference's apex AMP does; this many in a row is divergence
MAX_SKIPPED_STEPS = 50


class WarmupSchedule:
    """Learning-rate factor per epoch (fractional): linear warm-up, then
    step decay or cosine annealing.  A callable object, so that it is saved
    in checkpoints."""

    def __init__(self, warmup_epochs: float, schedule: str, milestones: List[int],
                 gamma: float, epochs: int, steps_per_epoch: int,
                 warmup_per: str = "step") -> None:
        self.warmup_epochs, self.schedule = warmup_epochs, schedule
        self.milestones, self.gamma = list(milestones), gamma
        self.epochs, self.steps_per_epoch = epochs, max(1, steps_per_epoch)
        self.warmup_per = warmup_per
        #: cosine restarts ``(start_epoch, peak)``: from ``start_epoch`` the
        #: factor anneals from ``peak`` to 0 at ``epochs``
        self.restarts: List[Tuple[float, float]] = []

    def restart(self, start_epoch: float, peak: float) -> None:
        """Anneal again from ``peak`` at ``start_epoch`` to 0 at ``epochs``
        (a warm restart, when the budget is extended)."""
        self.restarts.append((float(start_epoch), float(peak)))

    def __call__(self, step: int) -> float:
        epoch = step / self.steps_per_epoch
        if self.warmup_epochs > 0 and epoch < self.warmup_epochs:
            if self.warmup_per == "epoch":  # the reference: lr x (e + 1) / warm-up epochs
                return (step // self.steps_per_epoch + 1) / self.warmup_epochs
            return (step + 1) / (self.warmup_epochs * self.steps_per_epoch)
        if self.schedule == "cosine":
            start, peak, end = self.warmup_epochs, 1.0, float(self.epochs)
            for s, p in self.restarts:  # the cycle this epoch is in
                if epoch >= s:
                    start, peak = s, p
            later = [s for s, _ in self.restarts if s > start]
            end = min(later) if later else end
            span = max(1e-9, end - start)
            return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (epoch - start) / span)))
        return self.gamma ** sum(epoch >= m for m in self.milestones)


def effective_lr(optim: OptimConfig, batch_size: int) -> float:
    """The learning rate a run uses: ``optim.lr``, scaled by ``batch_size /
    optim.base_batch_size`` when ``optim.lr_scaling`` is ``linear``."""
    if optim.lr_scaling == "none":
        return optim.lr
    if optim.lr_scaling == "linear":
        return optim.lr * batch_size / optim.base_batch_size
    raise ConfigError(f"optim.lr_scaling must be linear or none, got {optim.lr_scaling!r}")


def build_optimizer(params, optim: OptimConfig, batch_size: int) -> torch.optim.Optimizer:
    """The recipe's optimiser (``optim.name``) over ``params`` (weight decay
    on all of them, as the reference) at :func:`effective_lr`."""
    lr = effective_lr(optim, batch_size)
    if optim.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=optim.momentum, nesterov=optim.nesterov,
                               weight_decay=optim.weight_decay)
    if optim.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=optim.weight_decay)
    raise ConfigError(f"optim.name must be sgd or adamw, got {optim.name!r}")


def _metrics(num_classes: int, prefix: str, sync: bool = True) -> MetricCollection:
    return MetricCollection({
        "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro", sync_on_compute=sync),
        "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro",
                                   sync_on_compute=sync),
    }, prefix=prefix)


class ClassificationTask(L.LightningModule):
    """Trains any :class:`~topogcn.models.interface.SkeletonModel`: a model
    with a latent head (:class:`~topogcn.models.interface.LatentModel`:
    GE-CN, its baseline) with the latent MMD loss on ``encode(x).z``, any
    other (ST-GCN, a plugin's classifier) with the label-smoothed
    cross-entropy on its logits; the optimiser and schedule of the recipe,
    and torchmetrics top-1/top-5 and the confusion matrix (from which
    :func:`~topogcn.engine.training.class_accuracies` takes per-class and
    mean class accuracy).  The test scores (softmax) are kept in
    :attr:`test_scores` for ensembles and analysis.

    Args:
        model (torch.nn.Module): The model.
        loss (LossConfig): Loss weights.
        optim (OptimConfig): Optimiser and schedule.
        epochs (int): Number of epochs (for the cosine schedule).
        batch_size (int): Batch size (for the linear learning-rate scaling).
        class_names (list of str, optional): For the metrics file.
        class_weight (Tensor, optional): Weights of the classes in the
            training cross-entropy (``loss.class_weights``).
    """

    def __init__(self, model: torch.nn.Module, loss: LossConfig, optim: OptimConfig,
                 epochs: int, batch_size: int, class_names: Optional[List[str]] = None,
                 class_weight: Optional[Tensor] = None) -> None:
        super().__init__()
        self.model = model
        self._set_inference_model(None)
        self.latent = has_latent_head(model)
        self.label_smoothing = loss.label_smoothing
        self.loss_fn = LatentMMDLoss.from_model(
            model, label_smoothing=loss.label_smoothing, mmd_weight=loss.mmd_weight,
            z_mean_weight=loss.z_mean_weight, prior_gain=loss.prior_gain,
            class_weight=class_weight) if self.latent else None
        self.register_buffer("class_weight", class_weight, persistent=False)
        self.optim_cfg, self.epochs, self.batch_size = optim, epochs, batch_size
        self.class_names = class_names
        n = model.num_classes
        # training batches are sharded over DDP processes: their metrics are
        # synchronised; every process evaluates the whole validation and test
        # sets, so theirs are not (a sum over processes would count every
        # clip once per process)
        self.train_metrics = _metrics(n, "train/")
        self.val_metrics = _metrics(n, "val/", sync=False)
        self.test_metrics = _metrics(n, "test/", sync=False)
        self.test_confusion = MulticlassConfusionMatrix(n, sync_on_compute=False)
        self.test_scores: List[Tensor] = []
        self.test_labels: List[Tensor] = []
        self._val_sums = torch.zeros(3, dtype=torch.float64)  # correct, cross-entropy, count
        self.val_history: List[Tuple[int, float]] = []  # (epoch, val/selection)
        #: the learning-rate schedule (set by configure_optimizers)
        self.schedule: Optional[WarmupSchedule] = None

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _step(self, batch, metrics: MetricCollection, stage: str):
        x, y = batch
        # validation and test run the inference copy made at the epoch's start
        model = self._inference_model if stage != "train" else None
        model = self.model if model is None else model
        if self.latent:
            out = model.encode(x)
            if stage == "train":
                self._overflow = self._latent_overflow(out.logvar)
            logits = model.classifier(out.z)
            terms = self.loss_fn(logits, out.z, y)
        else:  # a plain classifier: the cross-entropy alone
            logits = model(x)
            ce = F.cross_entropy(logits, y, weight=self.class_weight,
                                 label_smoothing=self.label_smoothing)
            zero = ce.new_zeros(())
            terms = LossTerms(ce, ce, zero, zero)
        metrics.update(logits, y)
        on_step = stage == "train"
        self.log(f"{stage}/loss", terms.loss, on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=len(y), sync_dist=not on_step)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return terms, logits, y

    def _latent_overflow(self, logvar: Tensor) -> Optional[str]:
        """Where the reference would turn into NaN: a latent noise exponent
        beyond float32's range (the reference's noise scale is ``inf`` there
        and its gradient NaN; topogcn's stays finite, so without this check
        a diverged run would go on, collapsed).  What happened, or None."""
        ratio = getattr(self.model, "noise_ratio", None)
        if not ratio:
            return None
        peak = float(logvar.detach().max())
        if peak * ratio <= _EXP_OVERFLOW:
            return None
        return (f"the latent log-variance reached {peak:.0f} (its noise scale "
                f"exp({ratio:g} x {peak:.0f}) overflows float32)")

    def on_train_start(self) -> None:
        #: a loss scaler skips steps whose gradients overflow (16-mixed on a GPU)
        self._scaled = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        self._skipped = 0

    def _diverged(self, problem: str, skip: bool) -> bool:
        """Without a loss scaler, stop the run at the first diverged step.
        With one, the step is skipped as the reference's apex AMP skips an
        overflowed step (``skip``: by returning no loss; otherwise the
        scaler sees the non-finite gradients), and only
        :data:`MAX_SKIPPED_STEPS` in a row stop the run.  Whether the step
        is skipped."""
        where = f"at epoch {self.current_epoch + 1}, step {self.global_step}"
        if not getattr(self, "_scaled", False):
            raise NonFiniteLossError(
                f"training diverged {where}: {problem}; the run stops and the last good "
                f"checkpoint is kept. Lower optim.lr or set trainer.gradient_clip_val")
        self._skipped += 1
        if self._skipped >= MAX_SKIPPED_STEPS:
            raise NonFiniteLossError(
                f"training diverged {where}: {problem}, and the loss scaler skipped the last "
                f"{self._skipped} steps; the run stops and the last good checkpoint is kept. "
                f"Lower optim.lr or set trainer.gradient_clip_val")
        self.log("train/skipped_steps", float(self._skipped), on_step=True, on_epoch=False)
        return skip

    def training_step(self, batch, batch_idx: int) -> Optional[Tensor]:
        self._overflow = None
        terms, _, _ = self._step(batch, self.train_metrics, "train")
        if self._overflow is not None:
            if self._diverged(self._overflow, skip=True):
                return None
        elif not torch.isfinite(terms.loss):
            self._diverged(f"the training loss is {terms.loss.item()} (batch {batch_idx})",
                           skip=False)
        else:
            self._skipped = 0
        for name in ("cls", "mmd", "z_mean"):
            self.log(f"train/{name}", getattr(terms, name), on_step=False, on_epoch=True,
                     batch_size=len(batch[1]))
        return terms.loss

    def validation_step(self, batch, batch_idx: int) -> None:
        terms, logits, y = self._step(batch, self.val_metrics, "val")
        ce = torch.nn.functional.cross_entropy(logits.detach().double(), y, reduction="sum")
        self._val_sums += torch.stack([(logits.argmax(1) == y).sum().double().cpu(),
                                       ce.cpu(), torch.tensor(float(len(y)))])

    def on_validation_epoch_start(self) -> None:
        self._val_sums.zero_()
        self._set_inference_model(fuse(self.model))

    def on_validation_epoch_end(self) -> None:
        self._set_inference_model(None)
        self._record_selection()

    def _record_selection(self) -> None:
        correct, ce, n = self._val_sums.tolist()
        if n:
            # the selection score of best.ckpt and early stopping: validation
            # top-1, ties broken by the lower cross-entropy
            score = correct / n - SELECTION_TIE_BREAK * min(ce / n, 5.0)
            self.log("val/selection", torch.tensor(score, dtype=torch.float64), prog_bar=False)
            if not self.trainer.sanity_checking:
                self.val_history.append((self.current_epoch, score))

    def best_val_epoch(self) -> Optional[int]:
        """The (0-based) epoch of the best ``val/selection`` of this process's
        training (the first of equals), or None without validation."""
        if not self.val_history:
            return None
        best = max(score for _, score in self.val_history)
        return next(e for e, score in self.val_history if score == best)

    def on_test_epoch_start(self) -> None:
        self.test_scores, self.test_labels = [], []
        self._set_inference_model(fuse(self.model))

    def on_test_epoch_end(self) -> None:
        self._set_inference_model(None)

    def _set_inference_model(self, model: Optional[torch.nn.Module]) -> None:
        # not a submodule: never in the checkpoint nor in the optimiser
        object.__setattr__(self, "_inference_model", model)

    def test_step(self, batch, batch_idx: int) -> None:
        _, logits, y = self._step(batch, self.test_metrics, "test")
        self.test_confusion.update(logits, y)
        self.test_scores.append(torch.softmax(logits.detach().float(), dim=1).cpu())
        self.test_labels.append(y.detach().cpu())

    def test_results(self) -> Dict[str, Any]:
        """The confusion matrix of the last test run (every process evaluates
        the whole test set, so every process has it)."""
        return {"confusion_matrix": self.test_confusion.compute().tolist()}

    def configure_optimizers(self):
        o = self.optim_cfg
        opt = build_optimizer(self.model.parameters(), o, self.batch_size)
        if o.schedule not in ("step", "cosine"):
            raise ConfigError(f"optim.schedule must be step or cosine, got {o.schedule!r}")
        steps = self.trainer.estimated_stepping_batches / max(1, self.trainer.max_epochs)
        if o.warmup_per not in ("step", "epoch"):
            raise ConfigError(f"optim.warmup_per must be step or epoch, got {o.warmup_per!r}")
        self.schedule = WarmupSchedule(o.warmup_epochs, o.schedule, o.milestones, o.gamma,
                                       self.epochs, int(steps), o.warmup_per)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
