"""Recordings read frame by frame (OpenPose, MediaPipe, COCO): frames where
nobody was detected."""
from __future__ import annotations

import numpy as np


def fill_missing(data: np.ndarray, present: np.ndarray, mode: str) -> np.ndarray:
    """Frames where nobody was detected: ``"zeros"`` keeps zeros,
    ``"interpolate"`` interpolates every value linearly between the nearest
    detected frames (holding the first/last detection at the ends)."""
    if mode == "zeros" or present.all() or not present.any():
        return data
    t = np.arange(len(data))
    flat = data.reshape(len(data), -1)
    out = np.empty_like(flat)
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, t[present], flat[present, c])
    return out.reshape(data.shape)
