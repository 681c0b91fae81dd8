"""Safe, atomic, verified checkpoints."""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from typing import Any, Dict, Mapping, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from topogcn.utils.io import atomic_path


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or not topogcn's."""


#: where a checkpoint keeps the checksum of its weights
INTEGRITY_KEY = "topogcn_integrity"


def state_checksum(state: Mapping[str, Any]) -> str:
    """SHA-256 of a ``state_dict``: every entry's name, dtype, shape and
    bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        h.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def verify_checkpoint(ck: Mapping[str, Any], path: str) -> None:
    """Raise :class:`CheckpointError` naming ``path`` unless the weights
    match the checksum written with them (checkpoints of topogcn 0.1 have
    none) and every floating-point weight is finite."""
    state = ck.get("state_dict")
    if not isinstance(state, Mapping):
        raise CheckpointError(f"Checkpoint '{path}' has no 'state_dict' mapping")
    integrity = ck.get(INTEGRITY_KEY)
    if integrity is not None:
        expected = integrity.get("sha256") if isinstance(integrity, Mapping) else None
        if not isinstance(expected, str):
            raise CheckpointError(f"Checkpoint '{path}': '{INTEGRITY_KEY}' has no 'sha256' "
                                  f"string")
        if state_checksum(state) != expected:
            raise CheckpointError(f"Checkpoint '{path}' is corrupt: its weights do not match "
                                  f"the checksum written with them")
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and \
                not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"Checkpoint '{path}': weight '{name}' has NaN or infinite "
                                  f"values")


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
    it (a run killed at any moment leaves the previous checkpoint intact),
    with a SHA-256 checksum of the weights, and loads with
    ``weights_only=True``, verifying the checksum and that every weight is
    finite (a resumed run does not start from a corrupt checkpoint)."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options=None) -> None:
        checkpoint = dict(checkpoint)
        if "state_dict" in checkpoint:
            checkpoint[INTEGRITY_KEY] = {"sha256": state_checksum(checkpoint["state_dict"])}
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        ck = load_checkpoint_file(path, map_location or "cpu")
        verify_checkpoint(ck, os.fspath(path))
        return ck
