"""Safe, atomic checkpoints."""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any, Dict, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from topogcn.utils.io import atomic_path


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or not topogcn's."""


def load_checkpoint_file(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """``torch.load(path, weights_only=True)``: tensors and plain Python
    values only, no code from the file is run.  Errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint '{path}' does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError,
            OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"Checkpoint '{path}' cannot be read: it is truncated, corrupt or not a "
            f"checkpoint saved by torch ({first})") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes to a temporary file and renames
    it (a run killed at any moment leaves the previous checkpoint intact) and
    loads with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        return load_checkpoint_file(path, map_location or "cpu")
