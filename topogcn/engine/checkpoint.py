"""Safe, atomic, verified checkpoints."""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from topogcn.utils.io import atomic_path, torch_save


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or not topogcn's."""


#: where a checkpoint keeps the checksum of its weights
INTEGRITY_KEY = "topogcn_integrity"


def _digest(h: "hashlib._Hash", value: Any) -> None:
    """Feed a canonical form of ``value`` (nested dicts, lists, tensors,
    arrays, plain values) into ``h``."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(f"A{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(value, Mapping):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            h.update(repr(key).encode())
            _digest(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for v in value:
            _digest(h, v)
    else:
        h.update(f"V{value!r}".encode())


def checkpoint_checksum(ck: Mapping[str, Any]) -> str:
    """SHA-256 of everything in a checkpoint but its integrity record: the
    weights, the run's configuration and input spec (class names included),
    the optimiser, schedule and callback states."""
    h = hashlib.sha256()
    _digest(h, {k: v for k, v in ck.items() if k != INTEGRITY_KEY})
    return h.hexdigest()


def seal_checkpoint(ck: Dict[str, Any]) -> Dict[str, Any]:
    """``ck`` with its integrity record (:func:`checkpoint_checksum`)."""
    ck = {k: v for k, v in ck.items() if k != INTEGRITY_KEY}
    ck[INTEGRITY_KEY] = {"sha256": checkpoint_checksum(ck), "covers": "checkpoint"}
    return ck


def verify_checkpoint(ck: Mapping[str, Any], path: str, allow_unverified: bool = False) -> None:
    """Raise :class:`CheckpointError` naming ``path`` unless the checkpoint
    matches the checksum written with it (everything in it: weights,
    configuration, input spec) and every floating-point weight is finite.
    A checkpoint without an integrity record is refused unless
    ``allow_unverified`` (``--allow-unverified`` on the command line)."""
    state = ck.get("state_dict")
    if not isinstance(state, Mapping):
        raise CheckpointError(f"Checkpoint '{path}' has no 'state_dict' mapping")
    integrity = ck.get(INTEGRITY_KEY)
    if integrity is None:
        if not allow_unverified:
            raise CheckpointError(
                f"Checkpoint '{path}' has no integrity record (not written by topogcn train, "
                f"or the record was removed); pass --allow-unverified to load it anyway")
    else:
        expected = integrity.get("sha256") if isinstance(integrity, Mapping) else None
        if not isinstance(expected, str):
            raise CheckpointError(f"Checkpoint '{path}': '{INTEGRITY_KEY}' has no 'sha256' "
                                  f"string")
        if checkpoint_checksum(ck) != expected:
            raise CheckpointError(f"Checkpoint '{path}' is corrupt or was edited: its content "
                                  f"does not match the checksum written with it")
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
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # any way a file that is not a checkpoint fails to unpickle
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"Checkpoint '{path}' cannot be read: it is truncated, corrupt or not a "
            f"checkpoint saved by torch ({first})") from None
    if not isinstance(ck, dict):
        raise CheckpointError(f"Checkpoint '{path}' holds {type(ck).__name__}, not a "
                              f"checkpoint")
    return ck


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes to a temporary file and renames
    it (a run killed at any moment leaves the previous checkpoint intact),
    with a SHA-256 checksum of its whole content, and loads with
    ``weights_only=True``, verifying the checksum and that every weight is
    finite (a resumed run does not start from a corrupt checkpoint)."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options=None) -> None:
        checkpoint = seal_checkpoint(checkpoint)
        with atomic_path(path) as tmp:
            torch_save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        ck = load_checkpoint_file(path, map_location or "cpu")
        verify_checkpoint(ck, os.fspath(path))
        return ck
