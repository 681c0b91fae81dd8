"""The test scores a run writes (``scores.npz``) and ``topogcn ensemble``
reads: checked like every other file."""
from __future__ import annotations

import os
import zipfile
import zlib
from typing import List, Tuple

import numpy as np

from topogcn.io.arrays import read_numpy
from topogcn.io.errors import DatasetFormatError


def read_scores(path: str) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """``scores`` ``[N, K]`` (softmax: finite, in [0, 1]), ``labels`` ``[N]``
    (integers in ``0 .. K - 1``) and the class names of a ``scores.npz``."""
    if not os.path.isfile(path):
        raise DatasetFormatError(f"'{path}' does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError) as e:
        raise DatasetFormatError(f"{path}: not a scores.npz archive ({e})") from None
    missing = [k for k in ("scores", "labels") if k not in names]
    if missing:
        raise DatasetFormatError(f"{path}: no {' or '.join(missing)} array (expected the "
                                 f"scores.npz of a topogcn run: scores, labels, classes)")
    scores = read_numpy(path, keys=("scores",)).astype(np.float64)
    labels = read_numpy(path, keys=("labels",))
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise DatasetFormatError(f"{path}: scores of shape {list(scores.shape)}; expected "
                                 f"[clips, classes] with at least one of each")
    if labels.shape != (scores.shape[0],):
        raise DatasetFormatError(f"{path}: {labels.size} labels for {scores.shape[0]} rows of "
                                 f"scores")
    if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
        raise DatasetFormatError(f"{path}: scores must be probabilities (finite, in [0, 1])")
    if (labels != np.round(labels)).any() or labels.min() < 0 or \
            labels.max() >= scores.shape[1]:
        raise DatasetFormatError(f"{path}: labels must be integers in 0..{scores.shape[1] - 1}")
    classes: List[str] = []
    if "classes" in names:
        try:
            with np.load(path, allow_pickle=False) as data:
                classes = [str(c) for c in data["classes"]]
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, ValueError,
                EOFError) as e:
            raise DatasetFormatError(f"{path}: its class names cannot be read "
                                     f"({type(e).__name__}: {str(e)[:120]})") from None
        if len(classes) != scores.shape[1]:
            raise DatasetFormatError(f"{path}: {len(classes)} class names for "
                                     f"{scores.shape[1]} columns of scores")
    return scores, labels.astype(np.int64), classes
