"""Composable, seeded transforms of skeleton sequences ``[M, T, V, C]``.

Random transforms draw from their own generator when given a ``seed``, and
from torch's global generator otherwise (which
:func:`lightning.seed_everything` seeds, per data-loader worker too).
"""
from topogcn.transforms.transforms import (
    CenterJoint,
    Compose,
    JointDropout,
    NormalizeScale,
    RandomCropResize,
    RandomRotation,
    Resize,
    ToBone,
    ToMotion,
    resize_frames,
    stream_transform,
)

__all__ = [
    "Compose",
    "CenterJoint",
    "NormalizeScale",
    "Resize",
    "RandomCropResize",
    "RandomRotation",
    "JointDropout",
    "ToBone",
    "ToMotion",
    "resize_frames",
    "stream_transform",
]
