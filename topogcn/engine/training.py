"""Training: ``topogcn train`` and the callbacks that make a run reproducible."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from topogcn.engine.baselines import linear_baseline
from topogcn.engine.budget import TrainingBudget, batches_per_epoch, plan_epochs
from topogcn.engine.checkpoint import AtomicCheckpointIO
from topogcn.engine.config import (
    Config, ConfigError, TrainerConfig, config_differences, load_config,
)
from topogcn.engine.epoch_log import LOG_NAME, EpochLog
from topogcn.engine.data import (
    SkeletonDataModule, class_balance_weights, epoch_seed, loader_workers,
)
from topogcn.engine.task import ClassificationTask
from topogcn.engine.trained_run import CKPT_KEY, build_model, run_payload
from topogcn.nn.functional.tuning import tuned
from topogcn.transforms import Preprocess
from topogcn.utils.allocator import keep_freed_memory
from topogcn.utils.io import atomic_path, atomic_write_text
from topogcn.utils.lock import FolderInUseError, folder_lock


class EpochSeed(Callback):
    """Seed every epoch from ``(seed, epoch)``: shuffling, augmentation and
    latent noise of epoch ``e`` do not depend on what ran before, so a run
    resumed from a checkpoint draws the same numbers as an uninterrupted one."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        seed_everything(epoch_seed(self.seed, trainer.current_epoch), workers=True,
                        verbose=False)


class EpochReport(Callback):
    """One line per epoch for people (used when the progress bar is off):
    training loss and top-1, validation top-1 when there is a validation
    split, and the epoch's time."""

    def __init__(self) -> None:
        self.start = time.time()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.time()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        epochs = trainer.max_epochs
        parts = [f"epoch {trainer.current_epoch + 1:>{len(str(epochs))}}/{epochs}"]
        if "train/loss_epoch" in m:
            parts.append(f"train loss {float(m['train/loss_epoch']):.3f}")
        if "train/top1" in m:
            parts.append(f"train top-1 {100 * float(m['train/top1']):.1f}%")
        if "val/top1" in m:
            parts.append(f"val top-1 {100 * float(m['val/top1']):.1f}%")
        parts.append(f"{time.time() - self.start:.1f} s")
        print("  ".join(parts), flush=True)


class RunInfo(Callback):
    """Store what is needed to rebuild the model in every checkpoint."""

    def __init__(self, payload: Dict[str, Any]) -> None:
        self.payload = payload

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        checkpoint[CKPT_KEY] = self.payload


@dataclass
class RunResult:
    out_dir: str
    metrics: Dict[str, Any]


#: what a run writes into its folder (``--overwrite`` replaces these)
RUN_FILES = ("checkpoints", "logs", "metrics.json", "scores.npz", "config.yaml")
#: the prefix of the folder ``--overwrite`` moves the previous run into
ASIDE_PREFIX = ".replaced."


def _prepare_out(out: str, resume: bool, overwrite: bool) -> Optional[str]:
    """Check and prepare the run folder; with ``overwrite``, the previous
    run is moved aside (into ``out/.replaced.*``, returned), to be removed
    only once the new run has started training (:class:`ReleaseAside`)."""
    if os.path.isdir(out):
        _recover_aside(out)
    done = os.path.isfile(os.path.join(out, "metrics.json"))
    ckpts = os.path.join(out, "checkpoints")
    # a run that wrote no checkpoint (e.g. out of disk space) has not started
    started = os.path.isdir(ckpts) and any(not n.startswith(".") for n in os.listdir(ckpts))
    if resume:
        if not os.path.isfile(os.path.join(out, "checkpoints", "last.ckpt")):
            raise ConfigError(f"--resume: '{out}' has no checkpoints/last.ckpt to resume from")
        remove_stale_temporaries(out)
        return None
    if (done or started) and not overwrite:
        raise ConfigError(f"'{out}' already holds a run; pass --resume to continue it, "
                          f"--overwrite to replace it, or another --out")
    os.makedirs(out, exist_ok=True)
    remove_stale_temporaries(out)
    present = [n for n in RUN_FILES if os.path.lexists(os.path.join(out, n))]
    if not overwrite or not present:
        return None
    aside = tempfile.mkdtemp(prefix=ASIDE_PREFIX, dir=out)
    for name in present:
        os.replace(os.path.join(out, name), os.path.join(aside, name))
    return aside


def _restore_aside(out: str, aside: str) -> None:
    """Put the previous run back (the new one failed before training)."""
    for name in os.listdir(aside):
        target = os.path.join(out, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.remove(target)
        os.replace(os.path.join(aside, name), target)
    os.rmdir(aside)


def _recover_aside(out: str) -> None:
    """A run killed between moving the previous run aside and starting to
    train left it in ``.replaced.*``: put it back (it is the last run the
    folder holds), unless a newer run has started since."""
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name.startswith(ASIDE_PREFIX) and os.path.isdir(path):
            ckpts = os.path.join(out, "checkpoints")
            if os.path.isdir(ckpts) and os.listdir(ckpts):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _restore_aside(out, path)


class ReleaseAside(Callback):
    """Remove the previous run ``--overwrite`` moved aside, once the new run
    has started training (its configuration and data were valid)."""

    def __init__(self, aside: Optional[str]) -> None:
        self.aside = aside

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.release()

    def release(self) -> None:
        if self.aside:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None


def remove_stale_temporaries(out: str) -> None:
    """Remove the temporary files (``.<name>.*.tmp``) that a run killed while
    writing left in its folder; called with the folder's lock held, so no
    live writer owns them."""
    for folder in (out, os.path.join(out, "checkpoints"), os.path.join(out, "logs")):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                if name.startswith(".") and name.endswith(".tmp") and os.path.isfile(path):
                    os.remove(path)


def progress_bar(cfg: Config) -> bool:
    """Whether to draw a progress bar: ``trainer.progress_bar`` and the output
    is a terminal (piped output gets one line per epoch instead of redraws)."""
    return cfg.trainer.progress_bar and sys.stdout.isatty()


def _loggers(cfg: Config, out: str):
    """Lightning loggers besides the epoch log: TensorBoard when asked."""
    if cfg.trainer.logger != "tensorboard":
        return False
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ConfigError("trainer.logger=tensorboard needs the tensorboard package: "
                          "pip install tensorboard (or keep trainer.logger=csv)")
    from lightning.pytorch.loggers import TensorBoardLogger
    return TensorBoardLogger(out, name="logs", version="")


def effective_precision(t: TrainerConfig) -> str:
    """``trainer.precision``, except that ``16-mixed`` (float16 with a loss
    scaler, a CUDA feature) runs as ``bf16-mixed`` without a CUDA GPU."""
    gpu = t.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if t.precision == "16-mixed" and not gpu else t.precision


def _trainer(cfg: Config, out: str, callbacks: List[Callback], validate: bool,
             epochs: int, steps_per_epoch: int) -> L.Trainer:
    t = cfg.trainer
    kwargs: Dict[str, Any] = {"limit_train_batches": steps_per_epoch, "max_epochs": epochs}
    if not validate:
        kwargs["limit_val_batches"] = 0
    try:
        return L.Trainer(
            accelerator=t.accelerator, devices=t.devices, strategy=t.strategy,
            num_nodes=t.num_nodes, precision=effective_precision(t),
            gradient_clip_val=t.gradient_clip_val,
            logger=_loggers(cfg, out), log_every_n_steps=t.log_every_n_steps,
            callbacks=callbacks, enable_progress_bar=progress_bar(cfg),
            enable_model_summary=False, plugins=[AtomicCheckpointIO()], deterministic=True,
            default_root_dir=out, use_distributed_sampler=False, num_sanity_val_steps=0,
            **kwargs)
    except Exception as e:  # Lightning's MisconfigurationException and the like
        if type(e).__name__ != "MisconfigurationException":
            raise
        raise ConfigError(f"trainer (accelerator={t.accelerator!r}, devices={t.devices!r}, "
                          f"strategy={t.strategy!r}): {e}") from None


def train(cfg: Config, out: str, resume: bool = False, overwrite: bool = False,
          callbacks: Sequence[Callback] = (), runner=None) -> RunResult:
    """Train and test ``cfg``; everything goes into the run folder ``out``:
    ``config.yaml``, ``checkpoints/{best,last}.ckpt``, ``logs/metrics.csv``,
    ``metrics.json`` and ``scores.npz``.

    The run is a function of ``cfg`` (its seed included) and the data: the
    same call gives the same weights and metrics, however busy the machine
    (``trainer.max_minutes`` may stop a run early, and says so;
    ``trainer.fit_to_time`` opts out).  With ``resume``, the run in ``out``
    continues from its last checkpoint with the configuration it was started
    with (``cfg`` must be that configuration).  ``callbacks`` are further
    Lightning callbacks (run after topogcn's own).  ``runner(cfg, out,
    resume, callbacks)`` replaces the classification training inside the
    prepared, locked folder (the frame-level spotter's training,
    :func:`topogcn.spotting.train_frames`, passes its own)."""
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    if cfg.trainer.keep_freed_memory and not keep_freed_memory():
        print("trainer.keep_freed_memory: needs glibc's allocator; not applied", flush=True)
    created = not os.path.exists(out)
    # one run per folder: DDP's other processes share rank 0's lock
    rank0 = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
    run = runner or _train
    if cfg.spotting.method == "frames" and runner is None:
        raise ConfigError("spotting.method=frames is trained by "
                          "topogcn.spotting.train_frames (topogcn train chooses it)")
    try:
        with folder_lock(out) if rank0 else contextlib.nullcontext():
            if resume:
                check_resumed_config(cfg, out)
            # rank 0 prepares the folder; DDP's other processes find it prepared
            aside = _prepare_out(out, resume, overwrite) if rank0 else None
            release = ReleaseAside(aside)
            try:
                with tuned(accurate_batch_norm=cfg.trainer.accurate_batch_norm):
                    return run(cfg, out, resume, [release] + list(callbacks))
            except BaseException:
                if release.aside and os.path.isdir(release.aside):  # not started: put it back
                    _restore_aside(out, release.aside)
                raise
    except FolderInUseError:
        raise
    except BaseException:
        # a run that failed before its first checkpoint leaves no folder behind
        if created and not os.path.isdir(os.path.join(out, "checkpoints")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def check_resumed_config(cfg: Config, out: str) -> None:
    """A resumed run continues with the configuration it was started with:
    refuse ``cfg`` if it differs from ``out/config.yaml``, naming the keys."""
    path = os.path.join(out, "config.yaml")
    if not os.path.isfile(path):
        raise ConfigError(f"--resume: '{out}' has no config.yaml (is it a topogcn run folder?)")
    changed = config_differences(load_config(path), cfg)
    if changed:
        raise ConfigError(f"--resume continues the run in '{out}' with its own config.yaml; "
                          f"this configuration differs at {', '.join(changed)}. Resume without "
                          f"--config/--set, or start a new run in another --out")


def _train(cfg: Config, out: str, resume: bool, extra: List[Callback]) -> RunResult:
    seed_everything(cfg.seed, workers=True, verbose=False)
    dm = SkeletonDataModule(cfg.data, cfg.seed)
    dm.setup("fit")
    spec = dm.spec
    has_val = dm.val_set is not None
    notes = [dm.val_note] if dm.val_note else []
    steps = batches_per_epoch(len(dm.train_set), dm.cfg, cfg.trainer)
    epochs = plan_epochs(cfg.trainer, steps)
    if cfg.trainer.steps is not None:
        capped = epochs * steps < cfg.trainer.steps
        notes.append(f"budget: {cfg.trainer.steps} steps = {plural(epochs, 'epoch')} of "
                     f"{plural(steps, 'batch', 'batches')} ({len(dm.train_set)} training "
                     f"clips, batch {cfg.data.batch_size})"
                     + (f", capped by trainer.epochs={cfg.trainer.epochs}" if capped else "")
                     + (f", stopped at {cfg.trainer.max_minutes:g} min if not done"
                        if cfg.trainer.max_minutes and not cfg.trainer.fit_to_time else "")
                     + (f", fitted to {cfg.trainer.max_minutes:g} min (fit_to_time)"
                        if cfg.trainer.max_minutes and cfg.trainer.fit_to_time else ""))
    workers = loader_workers(cfg.data.num_workers)
    if workers < cfg.data.num_workers:
        notes.append(f"data.num_workers={cfg.data.num_workers}: {workers} CPUs here, so "
                     f"{workers} data-loader workers (the same clips and augmentation)")
    if effective_precision(cfg.trainer) != cfg.trainer.precision:
        notes.append("trainer.precision: 16-mixed (float16 with a loss scaler) needs a CUDA "
                     "GPU; this run uses bf16-mixed")
    if cfg.trainer.early_stopping and not has_val:
        notes.append("trainer.early_stopping: no validation split, so no early stopping")
    for line in notes:
        print(line, flush=True)
    optim = cfg.optim
    if cfg.trainer.steps is not None and optim.warmup_epochs > epochs / 10:
        # a step budget of few epochs (a large dataset) is not all warm-up
        optim = dataclasses.replace(optim, warmup_epochs=epochs / 10)
    model = build_model(cfg, spec)
    if cfg.trainer.compile:
        model.compile()  # in place: the state dict keeps its keys
    class_weight = None
    if cfg.loss.class_weights != "none":
        class_weight = class_balance_weights(dm.train_set.labels, spec.num_classes,
                                             cfg.loss.class_weights)
    module = ClassificationTask(model, cfg.loss, optim, epochs,
                                cfg.data.batch_size, spec.classes, class_weight)
    atomic_write_text(os.path.join(out, "config.yaml"), cfg.dump())
    folder = os.path.join(out, "checkpoints")
    # best: the best validation epoch (every epoch without validation)
    ckpt = ModelCheckpoint(dirpath=folder, filename="best",
                           monitor="val/selection" if has_val else None, mode="max",
                           save_top_k=1, enable_version_counter=False)
    budget = TrainingBudget(epochs, cfg.trainer.max_minutes, cfg.trainer.fit_to_time,
                            cfg.trainer.extensions if has_val else 0, cfg.trainer.extension_gain)
    callbacks: List[Callback] = [ckpt, budget, EpochSeed(cfg.seed),
                                 RunInfo(run_payload(cfg, spec))]
    stopper = None
    if cfg.trainer.early_stopping and has_val:
        stopper = EarlyStopping("val/selection", mode="max", verbose=False,
                                patience=cfg.trainer.early_stopping)
        callbacks.append(stopper)
    if not progress_bar(cfg):
        callbacks.append(EpochReport())
    # after the budget: the last checkpoint holds the epoch's decisions
    callbacks.append(EpochLog(os.path.join(out, "logs", LOG_NAME),
                              os.path.join(folder, "last.ckpt")))
    trainer = _trainer(cfg, out, callbacks + extra, has_val, epochs, steps)
    resume_from = os.path.join(folder, "last.ckpt") if resume else None
    start = time.time()
    trainer.fit(module, datamodule=dm, ckpt_path=resume_from)
    train_time = time.time() - start
    best = ckpt.best_model_path if has_val and ckpt.best_model_path else None
    # before testing: loading best.ckpt restores the callbacks' state of its epoch
    stopped_by = ("early_stopping" if stopper is not None and stopper.stopped_epoch > 0 else
                  budget.stopped_by or "plan")
    best_epoch = module.best_val_epoch()
    budget_report = {"steps": cfg.trainer.steps, "steps_per_epoch": steps,
                     "epochs_planned": epochs, "epochs_final_plan": budget.epochs,
                     "epochs_run": trainer.current_epoch, "stopped_by": stopped_by,
                     "best_epoch": None if best_epoch is None else best_epoch + 1,
                     "extensions": budget.extended, "max_minutes": cfg.trainer.max_minutes,
                     "fit_to_time": cfg.trainer.fit_to_time, "notes": list(budget.notes)}
    trainer.test(module, datamodule=dm, ckpt_path=best, verbose=False)
    metrics = collect_metrics(trainer, module, spec.classes)
    metrics.update({"epoch": trainer.current_epoch, "train_time_s": round(train_time, 2),
                    "wall_time_s": round(time.time() - start, 2),
                    "checkpoint": "best" if best else "last",
                    "num_train": len(dm.train_set), "num_test": len(dm.test_set),
                    "num_val": len(dm.val_set) if has_val else 0,
                    "budget": budget_report})
    if has_val and dm.cfg.val_subjects is not None and not dm.cfg.val_on_test:
        metrics["val_subjects"] = list(dm.cfg.val_subjects) \
            if isinstance(dm.cfg.val_subjects, (list, tuple)) else dm.cfg.val_subjects
    if cfg.trainer.baselines and trainer.is_global_zero:
        plain = copy.copy(dm.train_set)  # the same clips, without the augmentation
        plain.transform = Preprocess(spec)
        metrics["baselines"] = linear_baseline(plain, dm.test_set, spec.num_classes, cfg.seed)
    write_results(trainer, module, out, metrics)
    return RunResult(out, metrics)


def plural(n: int, word: str, words: Optional[str] = None) -> str:
    """``1 epoch``, ``2 epochs``; ``plural(3, "batch", "batches")``."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def class_accuracies(confusion: Sequence[Sequence[int]]) -> Tuple[List[Optional[float]],
                                                                  Optional[float]]:
    """Per-class accuracy (``None`` for a class without test clips) and
    their mean over the classes that have clips (the mean class, or
    balanced, accuracy of long-tailed benchmarks) from a confusion matrix
    (rows: true class)."""
    cm = np.asarray(confusion, dtype=np.int64)
    support = cm.sum(axis=1)
    per_class = [float(cm[k, k] / support[k]) if support[k] else None for k in range(len(cm))]
    seen = [a for a in per_class if a is not None]
    return per_class, (float(np.mean(seen)) if seen else None)


def collect_metrics(trainer: L.Trainer, module: ClassificationTask,
                     classes: Sequence[str]) -> Dict[str, Any]:
    m = trainer.callback_metrics
    confusion = module.test_results()["confusion_matrix"]
    per_class, mean_class = class_accuracies(confusion)
    return {"top1": float(m["test/top1"]), "top5": float(m["test/top5"]),
            "mean_class_accuracy": mean_class,
            "per_class_accuracy": dict(zip(classes, per_class)),
            "confusion_matrix": confusion, "classes": list(classes)}


def write_results(trainer: L.Trainer, module: ClassificationTask, out: str,
                   metrics: Dict[str, Any]) -> None:
    text = json.dumps(metrics, indent=1)
    if trainer.world_size > 1:
        atomic_write_text(os.path.join(out, f"metrics.rank{trainer.global_rank}.json"), text)
    if trainer.is_global_zero:
        atomic_write_text(os.path.join(out, "metrics.json"), text)
        if trainer.world_size == 1:
            write_scores(os.path.join(out, "scores.npz"), torch.cat(module.test_scores),
                         torch.cat(module.test_labels), metrics["classes"])


def write_scores(path: str, scores: torch.Tensor, labels: torch.Tensor,
                 classes: Sequence[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, scores=scores.numpy(), labels=labels.numpy(),
                     classes=np.array(list(classes)))
