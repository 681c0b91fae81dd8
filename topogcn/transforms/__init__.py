"""Composable, seeded transforms of skeleton sequences ``[M, T, V, C]``,
and the input contract of a trained model.

:class:`InputSpec` says what a model expects of its input;
:class:`Preprocess` is the one preprocessing built from it (training,
evaluation, prediction, spotting, analysis and export all use it).
Random transforms draw from their own generator when given a ``seed``, and
from torch's global generator otherwise (which
:func:`lightning.seed_everything` seeds, per data-loader worker too).
"""
from topogcn.transforms.input_spec import (
    COORDINATE_CHANNELS,
    INPUT_SPEC_VERSION,
    InputSpec,
    InputSpecError,
    check_channels,
    default_channels,
)
from topogcn.transforms.preprocess import Preprocess
from topogcn.transforms.transforms import (
    CenterJoint,
    Compose,
    JointDropout,
    NormalizeScale,
    RandomCropResize,
    RandomMirror,
    RandomRotation,
    RandomScale,
    Resize,
    ToBone,
    ToMotion,
    align_view,
    bone_stream,
    center_joint,
    motion_stream,
    normalize_scale,
    resize_frames,
    stream_transform,
)

__all__ = [
    "InputSpec",
    "InputSpecError",
    "INPUT_SPEC_VERSION",
    "COORDINATE_CHANNELS",
    "check_channels",
    "default_channels",
    "Preprocess",
    "Compose",
    "CenterJoint",
    "NormalizeScale",
    "Resize",
    "RandomCropResize",
    "RandomRotation",
    "RandomScale",
    "RandomMirror",
    "JointDropout",
    "ToBone",
    "ToMotion",
    "center_joint",
    "align_view",
    "normalize_scale",
    "bone_stream",
    "motion_stream",
    "resize_frames",
    "stream_transform",
]
