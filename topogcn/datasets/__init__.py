"""Datasets: SMG and iMiGUE from their real files, your own folders, a
synthetic default; each registers a builder (:func:`create_dataset`) and
declares what its channels mean."""
from topogcn.datasets.base import ClipInfo, Recording, SkeletonDataset
from topogcn.io.errors import DatasetFormatError
from topogcn.io.segments import Segment
from topogcn.datasets.registry import create_dataset, list_datasets, register_dataset
from topogcn.datasets.folder import SkeletonFolder
from topogcn.datasets.imigue import IMiGUE
from topogcn.datasets.pyskl import PysklPickle
from topogcn.datasets.smg import SMG
from topogcn.datasets.synthetic import SyntheticMicroGestures
from topogcn.datasets.synthetic_hands import SyntheticHandGestures
from topogcn.datasets.windows import BACKGROUND, SpottingWindows, temporal_iou

__all__ = [
    "SkeletonDataset",
    "SyntheticMicroGestures",
    "SyntheticHandGestures",
    "SMG",
    "IMiGUE",
    "SkeletonFolder",
    "PysklPickle",
    "SpottingWindows",
    "BACKGROUND",
    "temporal_iou",
    "ClipInfo",
    "Recording",
    "Segment",
    "DatasetFormatError",
    "create_dataset",
    "list_datasets",
    "register_dataset",
]
