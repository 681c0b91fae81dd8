"""Baselines every run reports beside its model: chance and a linear probe."""
from __future__ import annotations

import time
from typing import Any, Dict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

#: the linear probe fits at most this many training values (clips x features);
#: larger training sets are subsampled (seeded, stratified by nothing)
MAX_PROBE_VALUES = 60_000_000


def _arrays(dataset: Dataset, max_clips: int, seed: int):
    n = len(dataset)
    index = np.arange(n)
    if n > max_clips:
        index = np.sort(np.random.default_rng(seed).choice(n, max_clips, replace=False))
    subset = torch.utils.data.Subset(dataset, index.tolist())
    xs, ys = [], []
    for x, y in DataLoader(subset, batch_size=256):
        xs.append(x.flatten(1).double().numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def linear_baseline(train: Dataset, test: Dataset, num_classes: int,
                    seed: int = 0) -> Dict[str, Any]:
    """Chance and the top-1 of a linear classifier on the same clips.

    The linear classifier is a multinomial logistic regression
    (scikit-learn, ``C=1`` on standardised features) on the flattened
    clips exactly as the model sees them at test time (the run's
    preprocessing, no augmentation): fit on ``train``, scored on ``test``.
    A training set of more than :data:`MAX_PROBE_VALUES` values is
    subsampled (seeded).

    Returns:
        dict: ``{"linear": top1, "chance": 1 / K, "linear_train": top1 on
        the training clips, "linear_clips": clips fitted, "linear_time_s"}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    start = time.time()
    x0, _ = train[0]
    features = int(x0.numel())
    Xtr, ytr = _arrays(train, max(num_classes, MAX_PROBE_VALUES // max(1, features)), seed)
    Xte, yte = _arrays(test, len(test), seed)
    out: Dict[str, Any] = {"chance": 1.0 / num_classes}
    if len(np.unique(ytr)) < 2:
        out.update({"linear": None, "linear_note": "one class in the training clips"})
        return out
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():  # 300 iterations are a probe, not a tuned model
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    out.update({"linear": float(clf.score(Xte, yte)), "linear_train": float(clf.score(Xtr, ytr)),
                "linear_clips": int(len(ytr)), "linear_time_s": round(time.time() - start, 2)})
    return out
