"""Read one skeleton sequence file for ``topogcn predict``."""
from __future__ import annotations

import os

import numpy as np
import torch

from topogcn.datasets.base import DatasetFormatError, check_finite
from topogcn.datasets.files import (
    check_sequence_size, open_text, read_ntu_skeleton, read_numpy, unsupported_file,
)
from topogcn.datasets.smg import SMG_NUM_JOINTS, SMG_VALUES_PER_JOINT, read_numeric_csv


def read_sequence(path: str, num_nodes: int, channels: int) -> torch.Tensor:
    """A sequence ``[M, T, V, C]`` from

    * ``.npy`` / ``.npz`` (first array, or the one named ``x``/``data``):
      ``[T, V, C]`` or ``[M, T, V, C]``;
    * ``.csv`` without header: one row per frame of ``V * C`` values
      (joint-major), or an SMG ``*_skeleton.csv`` row (25 joints x 11 values);
    * an NTU RGB+D ``.skeleton`` text file (two most present bodies).
    """
    if not os.path.isfile(path):
        raise DatasetFormatError(f"'{path}' does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".npy", ".npz"):
        arr = read_numpy(path)
    elif ext == ".skeleton":
        arr = read_ntu_skeleton(path)
    elif ext == ".csv":
        first = open_text(path).readline()
        width = len(first.split(","))
        if width == SMG_NUM_JOINTS * SMG_VALUES_PER_JOINT and num_nodes == SMG_NUM_JOINTS:
            raw = read_numeric_csv(path, width, "25 joints x 11 values")
            arr = raw.reshape(-1, SMG_NUM_JOINTS, SMG_VALUES_PER_JOINT)[:, :, :channels]
        else:
            raw = read_numeric_csv(path, num_nodes * channels,
                                   f"{num_nodes} joints x {channels} channels")
            arr = raw.reshape(-1, num_nodes, channels)
    else:
        raise unsupported_file(path)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[2] != num_nodes or arr.shape[3] != channels:
        raise DatasetFormatError(f"{path}: expected an array [T, {num_nodes}, {channels}] or "
                                 f"[M, T, {num_nodes}, {channels}], got {list(arr.shape)}")
    if arr.shape[1] == 0:
        raise DatasetFormatError(f"{path}: the sequence has no frame")
    check_sequence_size(arr.shape, path)
    check_finite(arr.transpose(1, 0, 2, 3), path)
    return torch.from_numpy(np.ascontiguousarray(arr))
