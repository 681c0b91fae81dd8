"""Datasets by name: each dataset module registers its own builder, so that
the training engine builds any of them from a configuration without
knowing them; other packages add theirs through the entry-point group
``topogcn.datasets`` (:mod:`topogcn.utils.registry`)."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Union

from topogcn.datasets.base import SkeletonDataset
from topogcn.utils.registry import Entry, Registry

#: ``builder(root, split, skeleton=..., frames=..., val_subjects=..., **options)``
DatasetBuilder = Callable[..., SkeletonDataset]

#: the registered datasets; metadata ``needs_root`` (whether ``data.root`` is
#: required) and ``description``
DATASETS: Registry[DatasetBuilder] = Registry(
    "dataset", "topogcn.datasets", defaults={"needs_root": True, "description": ""})


def register_dataset(name: str, *, needs_root: bool = True, description: str = ""
                     ) -> Callable[[DatasetBuilder], DatasetBuilder]:
    """Decorator: register ``builder`` under ``name`` (``data.name`` of a
    configuration).  The builder takes ``(root, split, *, skeleton, frames,
    val_subjects, **options)`` and returns a
    :class:`~topogcn.datasets.SkeletonDataset` whose ``channels`` say what
    each channel means.  A plugin package registers the same builder through
    the entry point group ``topogcn.datasets`` (its ``needs_root`` and
    ``description`` read from attributes of the builder)."""
    return DATASETS.register(name, needs_root=needs_root, description=description)


def list_datasets() -> List[str]:
    """The registered dataset names (plugins included)."""
    return DATASETS.names()


def dataset_entry(name: str) -> Entry[DatasetBuilder]:
    return DATASETS.entry(name)


def create_dataset(name: str, split: str, root: Optional[str] = None, *,
                   skeleton: Optional[str] = None, frames: Optional[int] = 64,
                   val_subjects: Union[None, int, Sequence[int]] = None,
                   **options: Any) -> SkeletonDataset:
    """Build the registered dataset ``name`` for ``split``.  ``options`` go
    to the dataset class; a wrong one is a :class:`ValueError` naming it."""
    entry = dataset_entry(name)
    if entry.meta["needs_root"] and not root:
        raise ValueError(f"dataset {name!r} needs a root folder (data.root; see the docs "
                         f"page 'Datasets')")
    try:
        return entry.obj(root, split, skeleton=skeleton, frames=frames,
                         val_subjects=val_subjects, **options)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise ValueError(f"data.options of dataset {name!r}: {e}") from None
