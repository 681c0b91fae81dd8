"""Chance and linear baselines on the default synthetic micro-gestures.

The linear baseline is a multinomial logistic regression (scikit-learn,
``C=1``) on the flattened clips after the same preprocessing as the default
run (centring on the centre joint of every frame, scale normalisation,
32 frames).  Prints and writes ``benchmarks/results/synthetic_baselines.json``.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from topogcn.engine.config import load_config  # noqa: E402
from topogcn.engine.data import build_dataset  # noqa: E402


def arrays(ds):
    X = torch.stack([ds[i][0] for i in range(len(ds))]).flatten(1).numpy()
    return X, ds.labels.numpy()


def main() -> None:
    cfg = load_config("synthetic")
    train, test = build_dataset(cfg.data, "train"), build_dataset(cfg.data, "test")
    Xtr, ytr = arrays(train)
    Xte, yte = arrays(test)
    majority = np.bincount(ytr).argmax()
    clf = LogisticRegression(max_iter=5000, C=1.0).fit(Xtr, ytr)
    res = {"num_classes": train.num_classes, "num_train": len(train), "num_test": len(test),
           "chance": 1.0 / train.num_classes,
           "majority_class_test": float((yte == majority).mean()),
           "linear_train": float(clf.score(Xtr, ytr)), "linear_test": float(clf.score(Xte, yte))}
    print(json.dumps(res, indent=1))
    out = os.path.join(os.path.dirname(__file__), "results", "synthetic_baselines.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
