"""The skeleton annotation pickles of PYSKL and MMAction2, read without
running any code from the file."""
from __future__ import annotations

import io
import os
import pickle
from typing import Any, Dict, List

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_ARRAY_BYTES

#: what a skeleton pickle may contain besides plain Python values: numpy
#: arrays, dtypes and scalars (numpy 1 and 2 module names)
_ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
            for n in ("_reconstruct", "scalar")} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}

class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, f, path: str) -> None:
        super().__init__(f)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise DatasetFormatError(
            f"{self.path}: the pickle asks for '{module}.{name}'; only numpy arrays, numbers, "
            f"strings, lists, tuples and dicts are read from a skeleton pickle (no code from "
            f"the file runs)")


def read_skeleton_pickle(path: str) -> Dict[str, Any]:
    """The ``{"split": {...}, "annotations": [...]}`` dict of a PYSKL /
    MMAction2 pickle, unpickled with an allow-list (numpy arrays and plain
    values only)."""
    if not os.path.isfile(path):
        raise DatasetFormatError(f"Skeleton pickle '{path}' does not exist")
    if os.path.getsize(path) > 8 * MAX_ARRAY_BYTES:
        raise DatasetFormatError(f"{path}: larger than {8 * MAX_ARRAY_BYTES / 2**30:.0f} GiB")
    with open(path, "rb") as f:
        try:
            data = _SafeUnpickler(io.BufferedReader(f), path).load()
        except DatasetFormatError:
            raise
        except Exception as e:  # truncated or not a pickle
            raise DatasetFormatError(f"{path}: not a readable pickle ({type(e).__name__}: "
                                     f"{e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DatasetFormatError(f"{path}: expected a dict with 'split' and 'annotations' (the "
                                 f"PYSKL / MMAction2 skeleton format), got "
                                 f"{type(data).__name__}")
    return data


def write_skeleton_pickle(path: str, annotations: List[Dict[str, Any]],
                          split: Dict[str, List[str]]) -> None:
    """Write a PYSKL-format pickle (for tests and conversions)."""
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f)
