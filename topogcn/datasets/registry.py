"""Datasets by name: each dataset module declares its own builder, so that
the training engine builds any of them from a configuration without
knowing them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from topogcn.datasets.base import SkeletonDataset

#: ``builder(root, split, skeleton=..., frames=..., val_subjects=..., **options)``
DatasetBuilder = Callable[..., SkeletonDataset]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its builder and whether it reads a folder."""
    name: str
    builder: DatasetBuilder
    needs_root: bool
    description: str


_DATASETS: Dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, needs_root: bool = True, description: str = ""
                     ) -> Callable[[DatasetBuilder], DatasetBuilder]:
    """Decorator: register ``builder`` under ``name`` (``data.name`` of a
    configuration).  The builder takes ``(root, split, *, skeleton, frames,
    val_subjects, **options)`` and returns a
    :class:`~topogcn.datasets.SkeletonDataset` whose ``channels`` say what
    each channel means."""
    def decorate(builder: DatasetBuilder) -> DatasetBuilder:
        if name in _DATASETS and _DATASETS[name].builder is not builder:
            raise ValueError(f"a dataset named {name!r} is already registered")
        _DATASETS[name] = DatasetEntry(name, builder, needs_root, description)
        return builder
    return decorate


def list_datasets() -> List[str]:
    """The registered dataset names."""
    return sorted(_DATASETS)


def dataset_entry(name: str) -> DatasetEntry:
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(list_datasets())}")
    return _DATASETS[name]


def create_dataset(name: str, split: str, root: Optional[str] = None, *,
                   skeleton: Optional[str] = None, frames: Optional[int] = 64,
                   val_subjects: Union[None, int, Sequence[int]] = None,
                   **options: Any) -> SkeletonDataset:
    """Build the registered dataset ``name`` for ``split``.  ``options`` go
    to the dataset class; a wrong one is a :class:`ValueError` naming it."""
    entry = dataset_entry(name)
    if entry.needs_root and not root:
        raise ValueError(f"dataset {name!r} needs a root folder (data.root; see the docs "
                         f"page 'Datasets')")
    try:
        return entry.builder(root, split, skeleton=skeleton, frames=frames,
                             val_subjects=val_subjects, **options)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise ValueError(f"data.options of dataset {name!r}: {e}") from None
