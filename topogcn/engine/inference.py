"""Using trained runs: evaluation, prediction and ensembles."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Sequence, Union

import lightning as L
import numpy as np
import torch

from topogcn.engine.config import Config, ConfigError
from topogcn.engine.data import SkeletonDataModule
from topogcn.engine.task import ClassificationTask
from topogcn.engine.trained_run import Run
from topogcn.engine.training import collect_metrics, progress_bar, write_results
from topogcn.io.scores import read_scores
from topogcn.io.sequence import read_sequence


def evaluate(checkpoint: Union[str, Run], cfg: Optional[Config] = None,
             out: Optional[str] = None) -> Dict[str, Any]:
    """Test a checkpoint on its (or ``cfg.data``'s) test split, with the
    checkpoint's own preprocessing (its input spec); writes
    ``metrics.json`` and ``scores.npz`` into ``out`` when given (into
    ``out/eval-test`` when ``out`` is a training run folder)."""
    run = Run.of(checkpoint)
    run.require_clip_classifier("evaluation")
    cfg = cfg or run.config
    dm = SkeletonDataModule(cfg.data, spec=run.spec)
    dm.setup("test")
    module = ClassificationTask(run.model, cfg.loss, cfg.optim, cfg.trainer.epochs,
                                cfg.data.batch_size, run.classes)
    trainer = L.Trainer(accelerator=cfg.trainer.accelerator, devices=1, logger=False,
                        enable_progress_bar=progress_bar(cfg),
                        enable_model_summary=False, deterministic=True)
    trainer.test(module, datamodule=dm, verbose=False)
    metrics = collect_metrics(trainer, module, run.classes)
    metrics["num_test"] = len(dm.test_set)
    if out:
        out = eval_folder(out)
        os.makedirs(out, exist_ok=True)
        write_results(trainer, module, out, metrics)
        metrics["out"] = out
    return metrics


def eval_folder(out: str, split: str = "test") -> str:
    """Where ``evaluate`` writes: ``out``, or ``out/eval-<split>`` when
    ``out`` is a training run folder (it holds ``config.yaml``,
    ``checkpoints/`` or a training ``metrics.json``: its own results are
    never overwritten)."""
    if os.path.isfile(os.path.join(out, "config.yaml")) or \
            os.path.isdir(os.path.join(out, "checkpoints")) or _training_metrics(out):
        return os.path.join(out, f"eval-{split}")
    return out


def _training_metrics(out: str) -> bool:
    """Whether ``out/metrics.json`` is a training run's (it has a budget)."""
    try:
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return "budget" in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def predict(checkpoint: Union[str, Run], path: str, top_k: int = 5) -> Dict[str, Any]:
    """Classify one skeleton sequence file (a raw clip, as
    :func:`~topogcn.io.read_sequence` reads it) with the
    run's preprocessing.

    Returns:
        dict: ``{"file", "classes": [every class, model order],
        "probabilities": [one per class], "top": [{"class", "probability"},
        ...]}`` with the ``top_k`` most probable classes first.
    """
    run = Run.of(checkpoint)
    spec = run.spec
    x = torch.from_numpy(read_sequence(path, spec.num_nodes, spec.num_channels))
    prob = run.predict_proba(x, source=path)
    k = max(1, min(top_k, len(prob)))
    values, idx = prob.topk(k)
    return {"file": path, "classes": run.classes, "probabilities": prob.tolist(),
            "top": [{"class": run.classes[i], "probability": float(v)}
                    for v, i in zip(values.tolist(), idx.tolist())]}


def ensemble(run_dirs: Sequence[str], weights: Optional[Sequence[float]] = None
             ) -> Dict[str, Any]:
    """Fuse the test scores (softmax) of several runs, e.g. joint / bone /
    motion streams: the weighted sum decides.  Every run must have tested
    the same clips in the same order."""
    if len(run_dirs) < 1:
        raise ConfigError("ensemble needs at least one run folder")
    weights = list(weights) if weights else [1.0] * len(run_dirs)
    if len(weights) != len(run_dirs):
        raise ConfigError(f"{len(weights)} weights for {len(run_dirs)} runs")
    if not all(np.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ConfigError(f"ensemble weights must be finite, not negative and not all zero, "
                          f"got {weights}")
    fused, labels, per_run = None, None, {}
    for run, w in zip(run_dirs, weights):
        path = os.path.join(run, "scores.npz")
        if not os.path.isfile(path):
            raise ConfigError(f"'{run}' has no scores.npz (is it a finished `topogcn train` "
                              f"run folder?)")
        s, y, _ = read_scores(path)
        if fused is not None and s.shape[1] != fused.shape[1]:
            raise ConfigError(f"'{run}' scored {s.shape[1]} classes, '{run_dirs[0]}' "
                              f"{fused.shape[1]}; runs of one ensemble share their classes")
        if labels is not None and (len(y) != len(labels) or (y != labels).any()):
            raise ConfigError(f"'{run}' tested other clips than '{run_dirs[0]}' (labels differ); "
                              f"runs of one ensemble must share the test split")
        labels = y
        per_run[run] = top_k_accuracy(s, y)
        fused = s * w if fused is None else fused + s * w
    result = {"runs": per_run, "weights": weights, "fused": top_k_accuracy(fused, labels),
              "num_test": int(len(labels))}
    return result


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    order = np.argsort(-scores, axis=1)
    k = min(5, scores.shape[1])
    return {"top1": float((order[:, 0] == labels).mean()),
            "top5": float((order[:, :k] == labels[:, None]).any(axis=1).mean())}
