"""One skeleton sequence file, whatever its format: the reader that
``SkeletonFolder``, ``topogcn predict`` and ``topogcn spot`` share."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from topogcn.io.arrays import read_numpy, unsupported_file
from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import check_finite, check_sequence_size
from topogcn.io.ntu import read_ntu_skeleton
from topogcn.io.smg import SMG_NUM_JOINTS, SMG_VALUES_PER_JOINT
from topogcn.io.text import read_numeric_csv

#: the file types :func:`read_sequence` reads
SEQUENCE_TYPES = (".npy", ".npz", ".csv", ".skeleton")


def read_sequence(path: str, num_nodes: int, channels: Optional[int] = None) -> np.ndarray:
    """A sequence ``[M, T, V, C]`` (float32) from

    * ``.npy`` / ``.npz`` (the array named ``x`` or ``data``, else the
      first): ``[T, V, C]`` or ``[M, T, V, C]``;
    * ``.csv`` without header: one row per frame of ``V * C`` values
      (joint-major), or, when 3 channels of the 25-joint skeleton are asked
      for, an SMG ``*_skeleton.csv`` row (25 joints x 11 values; x, y, z
      kept);
    * an NTU RGB+D ``.skeleton`` text file (the two most present bodies).

    ``num_nodes`` joints are required; ``channels`` too when given (else
    any).  Empty, truncated, oversized and non-finite data, a wrong shape or
    too many persons or frames are a :class:`DatasetFormatError` naming the
    file."""
    if not os.path.isfile(path):
        raise DatasetFormatError(f"'{path}' does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".npy", ".npz"):
        arr = read_numpy(path)
    elif ext == ".skeleton":
        arr = read_ntu_skeleton(path)
    elif ext == ".csv":
        raw = read_numeric_csv(path, None, "one frame per row")
        width = raw.shape[1]
        if channels == 3 and num_nodes == SMG_NUM_JOINTS and \
                width == SMG_NUM_JOINTS * SMG_VALUES_PER_JOINT:  # an SMG skeleton file
            arr = raw.reshape(-1, SMG_NUM_JOINTS, SMG_VALUES_PER_JOINT)[:, :, :3]
        elif width % num_nodes or (channels is not None and width != num_nodes * channels):
            want = f"{num_nodes} joints x {channels} channels" if channels else \
                f"a multiple of the skeleton's {num_nodes} joints"
            raise DatasetFormatError(f"{path}: rows have {width} values; expected {want} "
                                     f"(joint-major)")
        else:
            arr = raw.reshape(len(raw), num_nodes, width // num_nodes)
    else:
        raise unsupported_file(path)
    if arr.ndim == 3:
        arr = arr[None]
    C = "C" if channels is None else channels
    expected = f"expected [T, {num_nodes}, {C}] or [M, T, {num_nodes}, {C}]"
    if arr.ndim != 4:
        raise DatasetFormatError(f"{path}: {expected}, got shape {list(arr.shape)}")
    if arr.shape[2] != num_nodes:
        raise DatasetFormatError(f"{path}: {arr.shape[2]} joints per frame, but the skeleton "
                                 f"has {num_nodes} (shape {list(arr.shape)}; {expected})")
    if channels is not None and arr.shape[3] != channels:
        raise DatasetFormatError(f"{path}: {arr.shape[3]} channels per joint, expected "
                                 f"{channels} (shape {list(arr.shape)}; {expected})")
    check_sequence_size(arr.shape, path)
    if arr.shape[1] == 0:
        raise DatasetFormatError(f"{path}: the sequence has no frame")
    check_finite(arr.transpose(1, 0, 2, 3), path)
    return np.ascontiguousarray(arr, dtype=np.float32)
