"""The skeleton annotation pickles of PYSKL and MMAction2, read without
running any code from the file."""
from __future__ import annotations

import _codecs
import os
import pickle
from typing import Any, Dict, List

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_ARRAY_BYTES

#: what a skeleton pickle may contain besides plain Python values: numpy
#: arrays (protocols 0-5), dtypes and scalars (numpy 1 and 2 module names)
_ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
            for n in ("_reconstruct", "scalar")} | {
    (m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}
#: the numbers of an annotation's arrays may be at most this many times the
#: file's bytes (a pickle can refer to one array many times: each reference
#: would be converted on its own)
MAX_EXPANSION = 4


def _latin1(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as pickle protocols 0-2 use it for bytes (always
    latin-1); any other codec is refused."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"the pickle encodes bytes with the codec {encoding!r}; "
                                     f"only latin1 is read")
    return _codecs.encode(text, "latin1")

class _BoundedFile:
    """A file whose reads may not ask for more bytes than it has left: a
    pickle's length fields (a string or a frame claiming 2 GiB) cannot make
    the unpickler allocate more than the file holds."""

    def __init__(self, f, size: int, path: str) -> None:
        self.f, self.left, self.path = f, size, path

    def _take(self, n: int) -> None:
        if n > self.left:
            raise pickle.UnpicklingError(f"an item claims {n} bytes where the file has "
                                         f"{self.left} left (truncated or forged)")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.left
        self._take(n)
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def readinto(self, buf) -> int:
        self._take(len(buf))
        got = self.f.readinto(buf)
        self.left -= got
        return got

    def readline(self) -> bytes:
        data = self.f.readline()
        self.left -= len(data)
        return data


class _CheckedArray(np.ndarray):
    """What the unpickler builds arrays as: its state (shape, dtype, data)
    is checked before numpy allocates anything for it -- a shape that the
    data does not fill would otherwise allocate the whole claimed size."""

    def __setstate__(self, state) -> None:
        try:
            shape, dtype, data = state[1], state[2], state[4]
            n = int(np.prod([int(d) for d in shape], dtype=np.float64)) * np.dtype(dtype).itemsize
        except Exception as e:  # noqa: BLE001 - any malformed state is refused alike
            raise pickle.UnpicklingError(f"an array with a malformed state ({e})") from None
        if any(int(d) < 0 for d in shape) or not isinstance(data, (bytes, bytearray)) or \
                n != len(data):
            raise pickle.UnpicklingError(f"an array of shape {tuple(shape)} whose data is "
                                         f"{len(data) if isinstance(data, bytes) else '?'} bytes, "
                                         f"not {n}")
        super().__setstate__(state)


def _reconstruct(cls, shape, dtype):
    """numpy's ``_reconstruct`` of an ndarray, as a :class:`_CheckedArray`."""
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"an array of class {cls!r}")
    return np.ndarray.__new__(_CheckedArray, (0,), dtype)


def _plain(value: Any) -> Any:
    """``value`` with every checked array turned back into a plain ndarray."""
    if isinstance(value, _CheckedArray):
        return value.view(np.ndarray)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class _SafeUnpickler(pickle._Unpickler):  # the Python one: its memo is a dict
    # (the C unpickler sizes its memo by the largest index a PUT names: a
    # forged index of 2**31 allocates gigabytes)
    def __init__(self, f, path: str) -> None:
        super().__init__(f)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):  # bytes in protocols 0-2
            return _latin1
        if name == "_reconstruct" and (module, name) in _ALLOWED:  # arrays, checked
            return _reconstruct
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
            data = _plain(_SafeUnpickler(_BoundedFile(f, os.path.getsize(path), path),
                                         path).load())
        except DatasetFormatError:
            raise
        except Exception as e:  # truncated or not a pickle
            raise DatasetFormatError(f"{path}: not a readable pickle ({type(e).__name__}: "
                                     f"{e})") from None
    check_skeleton_pickle(data, path)
    return data


def check_skeleton_pickle(data: Any, path: str) -> None:
    """The types of every field a skeleton pickle is read for, and the size
    of its arrays against the file's (errors name the key)."""
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DatasetFormatError(f"{path}: expected a dict with 'split' and 'annotations' (the "
                                 f"PYSKL / MMAction2 skeleton format), got "
                                 f"{type(data).__name__}")
    split = data.get("split", {})
    if not isinstance(split, dict):
        raise DatasetFormatError(f"{path}: 'split' must be a dict of split name -> list of "
                                 f"frame_dir, got {type(split).__name__}")
    for name, members in split.items():
        if not isinstance(name, str) or not isinstance(members, (list, tuple)) or \
                not all(isinstance(m, (str, int)) for m in members):
            raise DatasetFormatError(f"{path}: split {name!r} must be a list of frame_dir "
                                     f"names, got {type(members).__name__}")
    total = 0
    for i, a in enumerate(data["annotations"]):
        where = f"{path}, annotation {i}"
        if not isinstance(a, dict):
            raise DatasetFormatError(f"{where}: expected a dict (frame_dir, label, keypoint, "
                                     f"...), got {type(a).__name__}")
        for key in ("keypoint", "keypoint_score"):
            arr = a.get(key)
            if arr is None and key == "keypoint_score":
                continue
            if not isinstance(arr, np.ndarray):
                raise DatasetFormatError(f"{where}: '{key}' must be a numpy array, got "
                                         f"{type(arr).__name__}")
            if arr.dtype.kind not in "fiu":
                raise DatasetFormatError(f"{where}: '{key}' holds {arr.dtype} values; expected "
                                         f"real numbers")
            total += arr.nbytes
        if "frame_dir" in a and not isinstance(a["frame_dir"], (str, int)):
            raise DatasetFormatError(f"{where}: 'frame_dir' must be a name, got "
                                     f"{type(a['frame_dir']).__name__}")
    size = os.path.getsize(path)
    if total > MAX_EXPANSION * size + 2 ** 20:
        raise DatasetFormatError(f"{path}: its annotations hold {total / 2**20:.0f} MiB of "
                                 f"keypoints in a {size}-byte file (arrays referred to "
                                 f"several times); refused")


def write_skeleton_pickle(path: str, annotations: List[Dict[str, Any]],
                          split: Dict[str, List[str]]) -> None:
    """Write a PYSKL-format pickle (for tests and conversions)."""
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f)
