"""NumPy array files (``.npy``, ``.npz``), checked before they are loaded:
empty, truncated, object and oversized arrays are errors naming the file."""
from __future__ import annotations

import os
import zipfile
import zlib
from typing import IO, Sequence

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_ARRAY_BYTES

#: an ``.npz`` member may inflate to this many times its compressed size
#: (skeleton data, even padded with zeros, compresses far less) ...
MAX_INFLATION = 200
#: ... unless it is at most this large
MAX_INFLATED_BYTES = 256 * 2 ** 20


def unsupported_file(path: str) -> DatasetFormatError:
    """The error for a sequence file of a type no reader takes."""
    ext = os.path.splitext(path)[1].lower()
    return DatasetFormatError(f"{path}: unsupported file type '{ext}' (expected .npy, .npz, "
                              f".csv or an NTU RGB+D .skeleton)")


def _check_npy_header(f: IO[bytes], available: int, where: str) -> None:
    """Read a .npy header from ``f`` and refuse data that the file does not
    hold or that exceeds :data:`MAX_ARRAY_BYTES`."""
    try:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown format version {version}")
        size_bytes = 2 if version == (1, 0) else 4
        length = int.from_bytes(f.read(size_bytes), "little")
        if length > min(available - f.tell(), 1 << 20):  # numpy would read it all first
            raise ValueError(f"a header of {length} bytes")
        f.seek(-size_bytes, 1)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
    except Exception as e:  # numpy parses the header with ast: SyntaxError and the like
        raise DatasetFormatError(f"{where}: not a NumPy array file "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise DatasetFormatError(f"{where}: the header's shape {shape} is not a shape")
    if dtype.hasobject:
        raise DatasetFormatError(f"{where}: holds Python objects ({dtype}); only numeric "
                                 f"arrays are read")
    if dtype.kind not in "fiu":
        raise DatasetFormatError(f"{where}: holds {dtype} values; only arrays of real numbers "
                                 f"(float or integer) are read")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise DatasetFormatError(f"{where}: an array of shape {list(shape)} ({nbytes / 2**30:.1f} "
                                 f"GiB) is larger than the limit of "
                                 f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB")
    if nbytes > available - f.tell():
        raise DatasetFormatError(f"{where}: truncated: the header says shape {list(shape)} "
                                 f"({nbytes} bytes) but the file holds "
                                 f"{max(0, available - f.tell())} bytes of data")


def read_numpy(path: str, keys: Sequence[str] = ("x", "data")) -> np.ndarray:
    """A float32 array from ``.npy`` or ``.npz`` (the first of ``keys``
    found, else the first array), checked before it is loaded."""
    ext = os.path.splitext(path)[1].lower()
    size = os.path.getsize(path)
    if size == 0:
        raise DatasetFormatError(f"{path}: empty file (0 bytes), expected a NumPy {ext} file")
    if ext not in (".npy", ".npz"):
        raise unsupported_file(path)
    try:
        data = _read_npy(path, size) if ext == ".npy" else _read_npz(path, keys)
        with np.errstate(over="ignore"):  # beyond float32: inf, refused by the value checks
            return np.asarray(data, dtype=np.float32)
    except DatasetFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, KeyError,
            TypeError, ValueError) as e:  # what a damaged file makes numpy and zipfile raise
        raise DatasetFormatError(f"{path}: not a readable NumPy {ext} file "
                                 f"({type(e).__name__}: {str(e)[:120]})") from None


def _read_npy(path: str, size: int) -> np.ndarray:
    with open(path, "rb") as f:
        _check_npy_header(f, size, path)
    return np.load(path, allow_pickle=False)


def _read_npz(path: str, keys: Sequence[str]) -> np.ndarray:
    with zipfile.ZipFile(path) as z:
        names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        if not names:
            raise DatasetFormatError(f"{path}: the archive holds no array")
        key = next((k for k in keys if k in names), names[0])
        info = z.getinfo(key + ".npy")
        if info.file_size > max(MAX_INFLATED_BYTES, MAX_INFLATION * max(info.compress_size, 1)):
            raise DatasetFormatError(
                f"{path} ['{key}']: {info.compress_size} compressed bytes inflate to "
                f"{info.file_size / 2**20:.0f} MiB, more than {MAX_INFLATION}x; refused")
        with z.open(info) as member:
            _check_npy_header(member, info.file_size, f"{path} ['{key}']")
        with z.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
