"""Datasets: SMG and iMiGUE from their real files, a synthetic default."""
from topogcn.datasets.base import (
    ClipInfo,
    DatasetFormatError,
    Recording,
    Segment,
    SkeletonDataset,
)
from topogcn.datasets.folder import SkeletonFolder
from topogcn.datasets.imigue import IMiGUE
from topogcn.datasets.smg import SMG
from topogcn.datasets.synthetic import SyntheticMicroGestures

__all__ = [
    "SkeletonDataset",
    "SyntheticMicroGestures",
    "SMG",
    "IMiGUE",
    "SkeletonFolder",
    "ClipInfo",
    "Recording",
    "Segment",
    "DatasetFormatError",
]
