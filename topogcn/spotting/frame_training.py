"""Training a frame-level spotter (``spotting.method: frames``).

``topogcn train`` runs :func:`train_frames` for such a configuration: GE-CN's
encoder with a frame head (:class:`~topogcn.models.FrameSpottingGECN`)
learns a class for every frame, the background included, on random crops
of the training recordings; the decoding into segments is chosen on the
validation recordings.  The run folder holds what a classification run
holds: ``config.yaml``, ``checkpoints/best.ckpt`` (readable by
:meth:`~topogcn.engine.Run.load`, spotted by ``topogcn spot``),
``logs/metrics.csv`` and ``metrics.json``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.seed import seed_everything
from torch import Tensor

from topogcn.datasets.base import Recording, Segment
from topogcn.datasets.windows import BACKGROUND
from topogcn.engine.checkpoint import seal_checkpoint
from topogcn.engine.config import Config, ConfigError
from topogcn.engine.data import (
    augmentations, class_balance_weights, epoch_seed, input_spec_for, open_dataset,
    validation_subjects,
)
from topogcn.engine.epoch_log import LOG_NAME, write_log
from topogcn.engine.task import NonFiniteLossError, WarmupSchedule, build_optimizer
from topogcn.engine.trained_run import CKPT_KEY, Run, build_model, run_payload
from topogcn.engine import training as engine_training
from topogcn.engine.training import ReleaseAside, RunResult, plural
from topogcn.spotting.metrics import smg_online_scores, spotting_scores
from topogcn.spotting.spotter import Spotter, decode_frame_probabilities
from topogcn.transforms import InputSpec, Preprocess, resize_frames
from topogcn.utils.io import atomic_path, atomic_write_text, torch_save

#: the decoding used when there is no validation split to choose one
DEFAULT_DECODING = {"smoothing": 1, "min_length": 4}


def frame_labels(segments: Sequence[Segment], frames: int, background: int) -> Tensor:
    """The class of every frame of a recording: its segment's label, or
    ``background`` between segments (a later segment wins an overlap)."""
    y = torch.full((frames,), background, dtype=torch.long)
    for seg in segments:
        y[max(0, seg.start):seg.end + 1] = seg.label
    return y


class CropSampler:
    """Random training crops of long recordings, with per-frame labels.

    A crop of ``crop`` frames at a random ``speed`` spans ``crop x speed``
    frames of a recording (as many as it has, at most), starts at a random
    frame; ``transform`` (normalisation, resampling to ``crop`` frames,
    spatial augmentation, stream) is applied to it, and its labels are those
    of the frames nearest to where the resampling samples.  Batch ``step``
    is drawn from ``(seed, step)`` only, so a run is the same whatever ran
    before."""

    def __init__(self, recordings: Sequence[Tuple[Tensor, Tensor]], crop: int,
                 speed: Tuple[float, float], transform, seed: int) -> None:
        self.recordings, self.crop, self.speed = list(recordings), crop, speed
        self.transform, self.seed = transform, seed
        lengths = np.array([x.size(1) for x, _ in self.recordings], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # every frame equally likely

    def batch(self, step: int, size: int) -> Tuple[Tensor, Tensor]:
        rng = np.random.default_rng(epoch_seed(self.seed, step))
        xs, ys = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch_seed(self.seed, step, 1))
            for _ in range(size):
                x, y = self.recordings[int(rng.choice(len(self.recordings), p=self.weights))]
                T = x.size(1)
                span = min(T, max(2, int(round(self.crop * rng.uniform(*self.speed)))))
                start = int(rng.integers(0, T - span + 1))
                clip = self.transform(x[:, start:start + span])
                # the frame nearest to where resize_frames samples (align_corners=False)
                src = (torch.arange(self.crop, dtype=torch.float64) + 0.5) * span / self.crop
                index = (src - 0.5).clamp(0, span - 1).round().long()
                xs.append(clip)
                ys.append(y[start:start + span][index])
        return torch.stack(xs), torch.stack(ys)


def choose_decoding(probs: Sequence[Tuple[Tensor, Sequence[Segment]]], names: Sequence[str],
                    smoothing: Sequence[int], min_length: Sequence[int]
                    ) -> Tuple[Dict[str, int], float]:
    """The decoding (``smoothing``, ``min_length``) of the best F1 at temporal
    IoU 0.5 over recordings ``(probabilities, segments)``; ties go to the
    first candidate (the least smoothing, then the shortest length)."""
    best: Tuple[float, Dict[str, int]] = (-1.0, dict(DEFAULT_DECODING))
    for w in smoothing:
        for m in min_length:
            f1 = spotting_scores([(decode_frame_probabilities(p, names, w, m), segs)
                                  for p, segs in probs])["f1@0.5"]
            if f1 > best[0]:
                best = (f1, {"smoothing": int(w), "min_length": int(m)})
    return best[1], best[0]


def _recordings(cfg_data, split: str, seed: int):
    """The dataset of ``split`` and its recordings (some with segments)."""
    ds = open_dataset(dataclasses.replace(cfg_data, window=None), split, seed)
    recs: List[Recording] = list(ds.recordings())
    if not recs or not any(r.segments for r in recs):
        raise ConfigError(f"spotting.method=frames: the {split!r} split of data.name="
                          f"{cfg_data.name} has no recording with labelled segments")
    return ds, recs


def _frame_spec(cfg: Config, dataset) -> InputSpec:
    spec = input_spec_for(dataclasses.replace(cfg.data, frames=cfg.spotting.crop), dataset)
    if BACKGROUND in spec.classes:
        raise ConfigError(f"data.name={cfg.data.name}: a class is named {BACKGROUND!r}, the "
                          f"name of the spotter's background class")
    return dataclasses.replace(spec, classes=tuple(spec.classes) + (BACKGROUND,))


def _linear_features(x: Tensor, offsets: Sequence[int] = (-8, 0, 8)) -> np.ndarray:
    """Per-frame features of a preprocessed recording ``[M, T, V, C]``: the
    frame and the frames ``offsets`` away (clamped at the ends), flattened."""
    T = x.size(1)
    t = torch.arange(T)
    parts = [x[:, (t + o).clamp(0, T - 1)].permute(1, 0, 2, 3).reshape(T, -1) for o in offsets]
    return torch.cat(parts, dim=1).double().numpy()


def linear_frame_baseline(train, val, test, pre: Preprocess, names: Sequence[str],
                          cfg: Config) -> Dict[str, Any]:
    """A linear frame classifier on the same recordings: a multinomial
    logistic regression (scikit-learn, standardised features) of every
    frame's class from the preprocessed coordinates of the frame and of the
    frames 8 before and after it (at most 40,000 training frames, seeded),
    decoded as the spotter is, with the decoding chosen on ``val``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.time()
    K1 = len(names)

    def prepared(recs):
        return [(pre.to_stream(pre.normalize(r.data)), r) for r in recs]

    X, Y = [], []
    for x, r in prepared(train):
        X.append(_linear_features(x))
        Y.append(frame_labels(r.segments, x.size(1), K1 - 1).numpy())
    X, Y = np.concatenate(X), np.concatenate(Y)
    if len(Y) > 40_000:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(Y), 40_000, replace=False))
        X, Y = X[keep], Y[keep]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y)

    def probs(recs):
        out = []
        for x, r in prepared(recs):
            p = np.zeros((x.size(1), K1))
            p[:, clf.classes_] = clf.predict_proba(_linear_features(x))
            out.append((torch.from_numpy(p).float(), r.segments))
        return out

    decoding = dict(DEFAULT_DECODING)
    if val:
        decoding, _ = choose_decoding(probs(val), names, cfg.spotting.smoothing,
                                      cfg.spotting.min_length)
    results = [(decode_frame_probabilities(p, names, **decoding), segs)
               for p, segs in probs(test)]
    return {**spotting_scores(results), **smg_online_scores(results), "decoding": decoding,
            "frames_fitted": int(len(Y)),
            "time_s": round(time.time() - start, 2)}


def train_frames(cfg: Config, out: str, overwrite: bool = False) -> RunResult:
    """Train a frame-level spotter (``spotting.method: frames``) into the run
    folder ``out``, prepared and locked as :func:`topogcn.engine.train`
    does for a classifier (what ``topogcn train`` runs for such a
    configuration).  Returns a :class:`~topogcn.engine.training.RunResult`.

    ``trainer.steps`` steps of ``data.batch_size`` crops
    (:class:`CropSampler`), validated every ``spotting.eval_every`` steps by
    the F1 at temporal IoU 0.5 of the best decoding
    (:func:`choose_decoding`); the best validated weights and their decoding
    are kept and tested.  An epoch of the optimiser's schedule
    (``optim.warmup_epochs``, ``optim.milestones``) is
    ``spotting.eval_every`` steps; ``trainer.early_stopping`` counts
    validations; ``trainer.max_minutes`` stops the run, and says so.  A run
    is a function of its configuration and seed; it is not resumable (it is
    minutes long)."""
    if cfg.spotting.method != "frames":
        raise ConfigError(f"train_frames trains spotting.method=frames, not "
                          f"{cfg.spotting.method!r} (topogcn.engine.train does)")
    return engine_training.train(cfg, out, overwrite=overwrite, runner=_train_frames)


@dataclasses.dataclass
class _FrameData:
    """What a frame-spotting run learns from and is tested on."""
    spec: InputSpec
    pre: Preprocess
    transform: Any
    sampler: CropSampler
    train: List[Recording]
    val: List[Recording]
    test: List[Recording]

    @property
    def names(self) -> List[str]:
        return list(self.spec.classes)


@dataclasses.dataclass
class _Fit:
    """How the training loop ended: the steps run, why it stopped, its time,
    and the best validation ``(f1, step, weights, decoding)`` (if any)."""
    steps: int
    stopped_by: str
    seconds: float
    best: Optional[Tuple[float, int, Dict[str, Tensor], Dict[str, int]]]


def _frame_data(cfg: Config) -> Tuple[_FrameData, List[str]]:
    """The recordings of every split, the input spec (the background class
    last), the preprocessing and the crop sampler; and what to tell the
    user about them."""
    sp = cfg.spotting
    data, val_note = validation_subjects(cfg.data, cfg.seed)
    probe, train_recs = _recordings(data, "train", cfg.seed)
    val_recs = _recordings(data, "val", cfg.seed)[1] if data.val_subjects is not None else []
    test_recs = _recordings(data, "test", cfg.seed)[1]
    spec = _frame_spec(cfg, probe)
    pre = Preprocess(spec)
    temporal = lambda x: resize_frames(x, sp.crop)  # noqa: E731 (speed: the crop's span)
    _, spatial = augmentations(data, spec, probe)
    transform = pre.with_augmentation(temporal, spatial) if data.augment else \
        pre.with_augmentation(temporal)
    background = len(spec.classes) - 1
    sampler = CropSampler([(r.data, frame_labels(r.segments, r.data.size(1), background))
                           for r in train_recs], sp.crop,
                          tuple(sp.speed) if data.augment else (1.0, 1.0), transform, cfg.seed)
    notes = [val_note] if val_note else []
    return _FrameData(spec, pre, transform, sampler, train_recs, val_recs, test_recs), notes


def _plan_notes(cfg: Config, fd: _FrameData, steps: int) -> List[str]:
    """The budget, the validation and the trainer keys a frame run ignores."""
    sp, tr = cfg.spotting, cfg.trainer
    frames = sum(r.data.size(1) for r in fd.train)
    notes = [f"budget: {steps} steps of {cfg.data.batch_size} crops of {sp.crop} frames "
             f"({len(fd.train)} training recordings, {frames} frames), validated every "
             f"{sp.eval_every} steps"
             + (f", stopped at {tr.max_minutes:g} min if not done" if tr.max_minutes else "")]
    if not fd.val:
        notes.append(f"validation: none, so the last weights are tested with the decoding "
                     f"{DEFAULT_DECODING}")
    ignored = [f"{k}={v!r}" for k, v, default in (
        ("trainer.precision", tr.precision, "32-true"),
        ("trainer.accelerator", tr.accelerator, "cpu"),
        ("trainer.devices", tr.devices, 1), ("trainer.compile", tr.compile, False))
        if v != default]
    if ignored:
        notes.append(f"a frame-spotting run trains in float32 on one CPU process: "
                     f"{', '.join(ignored)} not applied")
    return notes


def _fit(cfg: Config, fd: _FrameData, model: torch.nn.Module, steps: int, log_path: str) -> _Fit:
    """The training loop: ``steps`` optimisation steps, a validation (and a
    row of the log ``log_path``) every ``spotting.eval_every`` of them and at
    the end; early stopping and the time limit end it sooner."""
    sp, tr, o = cfg.spotting, cfg.trainer, cfg.optim
    evals = max(1, math.ceil(steps / sp.eval_every))
    opt = build_optimizer(model.parameters(), o, cfg.data.batch_size)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupSchedule(
        o.warmup_epochs, o.schedule, o.milestones, o.gamma, evals, sp.eval_every, o.warmup_per))
    class_weight = None
    if cfg.loss.class_weights != "none":
        labels = torch.cat([y for _, y in fd.sampler.recordings])
        class_weight = class_balance_weights(labels, len(fd.names), cfg.loss.class_weights)

    def validate() -> Tuple[float, Dict[str, int]]:
        spotter = Spotter(model, fd.names, sp.crop, sp.stride, transform=fd.pre)
        probs = [(spotter.frame_probabilities(r.data), r.segments) for r in fd.val]
        model.train()
        decoding, f1 = choose_decoding(probs, fd.names, sp.smoothing, sp.min_length)
        return f1, decoding

    rows: List[Dict[str, Any]] = []
    best = None
    stopped_by, since_best, step = "plan", 0, 0
    period_loss, period_n = 0.0, 0
    start = time.time()
    model.train()
    while step < steps:
        x, y = fd.sampler.batch(step, cfg.data.batch_size)
        loss = F.cross_entropy(model(x), y, weight=class_weight,
                               label_smoothing=cfg.loss.label_smoothing)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"training diverged at step {step + 1}: the loss is "
                                     f"{loss.item()}; lower optim.lr or set "
                                     f"trainer.gradient_clip_val")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tr.gradient_clip_val:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tr.gradient_clip_val)
        opt.step()
        lr_sched.step()
        step += 1
        period_loss, period_n = period_loss + loss.item(), period_n + 1
        if step % sp.eval_every and step < steps:
            continue
        row: Dict[str, Any] = {"step": step, "lr": opt.param_groups[0]["lr"],
                               "train/loss": period_loss / period_n}
        period_loss, period_n = 0.0, 0
        parts = [f"step {step:>{len(str(steps))}}/{steps}", f"train loss {row['train/loss']:.3f}"]
        if fd.val:
            f1, decoding = validate()
            row["val/f1@0.5"] = f1
            parts.append(f"val F1@0.5 {100 * f1:.1f}% (smoothing {decoding['smoothing']}, "
                         f"min length {decoding['min_length']})")
            if best is None or f1 > best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best, since_best = (f1, step, state, decoding), 0
            else:
                since_best += 1
        parts.append(f"{time.time() - start:.0f} s")
        print("  ".join(parts), flush=True)
        rows.append(row)
        write_log(log_path, rows)
        if tr.early_stopping and since_best >= tr.early_stopping:
            stopped_by = "early_stopping"
            break
        if tr.max_minutes and time.time() - start > 60 * tr.max_minutes and step < steps:
            stopped_by = "time_limit"
            print(f"stopped by the {tr.max_minutes:g}-minute limit after {step} of {steps} "
                  f"steps: not the recipe's result (trainer.max_minutes)", flush=True)
            break
    return _Fit(step, stopped_by, time.time() - start, best)


def _save_best(cfg: Config, fd: _FrameData, model: torch.nn.Module,
               decoding: Dict[str, int], out: str) -> str:
    """``checkpoints/best.ckpt``: the model's weights and the run's payload
    with its decoding, written atomically; returns its path."""
    payload = {**run_payload(cfg, fd.spec), "decoding": decoding}
    ck = seal_checkpoint({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                          CKPT_KEY: payload})
    path = os.path.join(out, "checkpoints", "best.ckpt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        torch_save(ck, tmp)
    return path


def _test(run: Run, fd: _FrameData) -> Dict[str, Any]:
    """The test recordings spotted as ``topogcn spot`` spots them: the
    spotting scores, the frame accuracy and the spotting speed."""
    spotter = Spotter.from_run(run)
    background = len(fd.names) - 1
    results, correct, total = [], 0, 0
    start = time.time()
    for r in fd.test:
        probs = spotter.frame_probabilities(r.data)
        y = frame_labels(r.segments, r.data.size(1), background)
        correct += int((probs.argmax(1) == y).sum())
        total += len(y)
        results.append((decode_frame_probabilities(probs, fd.names, **run.decoding),
                        r.segments))
    seconds = time.time() - start
    return {"scores": {**spotting_scores(results), **smg_online_scores(results)},
            "frame_accuracy": correct / max(total, 1),
            "spot_frames_per_s": round(total / max(seconds, 1e-9), 1)}


def _train_frames(cfg: Config, out: str, resume: bool = False, callbacks=()) -> RunResult:
    """The training of :func:`train_frames` in its prepared folder."""
    if cfg.data.window:
        raise ConfigError("data.window trains a window classifier (spotting.method=windows); "
                          "spotting.method=frames learns from whole recordings: unset "
                          "data.window")
    tr = cfg.trainer
    if tr.threads:
        torch.set_num_threads(tr.threads)
    seed_everything(cfg.seed, workers=True, verbose=False)
    fd, notes = _frame_data(cfg)
    steps = tr.steps or 1000
    for line in notes + _plan_notes(cfg, fd, steps):
        print(line, flush=True)
    model = build_model(cfg, fd.spec)
    atomic_write_text(os.path.join(out, "config.yaml"), cfg.dump())
    for cb in callbacks:
        if isinstance(cb, ReleaseAside):
            cb.release()

    fit = _fit(cfg, fd, model, steps, os.path.join(out, "logs", LOG_NAME))
    decoding = dict(DEFAULT_DECODING)
    if fit.best is not None:
        model.load_state_dict(fit.best[2])
        decoding = fit.best[3]
    model.eval()
    path = _save_best(cfg, fd, model, decoding, out)
    tested = _test(Run(cfg, model, fd.spec, path, decoding), fd)
    best = fit.best
    metrics: Dict[str, Any] = {
        "method": "frames", "classes": fd.names, "scores": tested["scores"],
        "f1@0.5": tested["scores"]["f1@0.5"], "frame_accuracy": tested["frame_accuracy"],
        "decoding": decoding, "val_f1@0.5": best[0] if best else None,
        "steps": fit.steps, "train_time_s": round(fit.seconds, 2),
        "spot_frames_per_s": tested["spot_frames_per_s"],
        "checkpoint": "best" if best else "last",
        "num_train": len(fd.train), "num_val": len(fd.val), "num_test": len(fd.test),
        "budget": {"steps": steps, "steps_run": fit.steps, "stopped_by": fit.stopped_by,
                   "best_step": best[1] if best else None,
                   "eval_every": cfg.spotting.eval_every, "max_minutes": tr.max_minutes},
    }
    if tr.baselines:
        metrics["baselines"] = {"linear_frames": linear_frame_baseline(
            fd.train, fd.val, fd.test, fd.pre, fd.names, cfg)}
    atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=1))
    if fit.stopped_by == "plan":
        print(f"trained {plural(fit.steps, 'step')} in {fit.seconds:.0f} s", flush=True)
    return RunResult(out, metrics)
