"""The limits every reader applies before it allocates memory or trusts a
value (one table in the docs page "Datasets").

* :data:`MAX_ARRAY_BYTES`: one array file holds at most 4 GiB of data;
* :data:`MAX_FRAMES`: a recording has at most 100,000 frames (55 minutes at
  30 frames/s);
* :data:`MAX_PERSONS`: at most 16 persons per frame;
* :data:`MAX_CLASSES`: at most 1,000 classes (a confusion matrix of
  1,000,000 counts);
* :data:`MAX_ABS_VALUE`: coordinates and confidences within +-1e6.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from topogcn.io.errors import DatasetFormatError

MAX_ARRAY_BYTES = 4 * 2 ** 30
MAX_FRAMES = 100_000
MAX_PERSONS = 16
MAX_CLASSES = 1_000
#: the largest coordinate magnitude read (pixels, millimetres and metres stay far below)
MAX_ABS_VALUE = 1e6


def check_finite(data: np.ndarray, path: str) -> None:
    """Raise naming the first frame (the first axis) with a NaN, infinite
    or implausibly large (above :data:`MAX_ABS_VALUE`) value: one value of
    1e30 would otherwise scale the whole clip to zeros."""
    bad = ~np.isfinite(data)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise DatasetFormatError(f"{path}: frame {frame} has NaN or infinite coordinates")
    big = np.abs(data) > MAX_ABS_VALUE
    if big.any():
        where = tuple(int(i) for i in np.argwhere(big)[0])
        raise DatasetFormatError(f"{path}: frame {where[0]} has the value {data[where]:.3g}, "
                                 f"beyond the plausible range +-{MAX_ABS_VALUE:.0e}")


def check_sequence_size(shape: Sequence[int], where: str) -> None:
    """Refuse a sequence ``[M, T, V, C]`` beyond :data:`MAX_PERSONS` or
    :data:`MAX_FRAMES`, or without a person."""
    M, T = shape[0], shape[1]
    if M == 0:
        raise DatasetFormatError(f"{where}: the sequence has no person (shape {list(shape)})")
    if M > MAX_PERSONS:
        raise DatasetFormatError(f"{where}: {M} persons, more than the limit of {MAX_PERSONS} "
                                 f"(shape {list(shape)}; expected [T, V, C] or [M, T, V, C])")
    if T > MAX_FRAMES:
        raise DatasetFormatError(f"{where}: {T} frames, more than the limit of {MAX_FRAMES}")


def check_frame_indices(indices: Iterable[int], where: str) -> int:
    """The length ``T`` (last index + 1) of a recording given by numbered
    frame files, refused when it exceeds :data:`MAX_FRAMES` or when fewer
    than a tenth of its frames have a file (a mistyped index such as
    ``_000001000000_`` would otherwise allocate millions of empty frames)."""
    indices = list(indices)
    T = max(indices) + 1
    last = max(indices)
    if T > MAX_FRAMES:
        raise DatasetFormatError(f"{where}: frame index {last} gives {T} frames, more than the "
                                 f"limit of {MAX_FRAMES}")
    if T > 1000 and len(indices) * 10 < T:
        raise DatasetFormatError(f"{where}: only {len(indices)} of its {T} frames have a file "
                                 f"(last frame index {last}); is a frame number mistyped?")
    return T
