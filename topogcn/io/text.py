"""Text and CSV files: UTF-8 only, errors naming the file and line."""
from __future__ import annotations

import csv
import io
import os
import warnings
from typing import List, Optional

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_ABS_VALUE


def read_text(path: str) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); other
    encodings are a :class:`DatasetFormatError` naming the line."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DatasetFormatError(f"{path}, line {line}: not UTF-8 text (byte "
                                 f"0x{raw[e.start]:02x} at offset {e.start}); save it as "
                                 f"UTF-8") from None


def open_text(path: str) -> io.StringIO:
    """:func:`read_text` as a file object (for :mod:`csv` readers)."""
    return io.StringIO(read_text(path), newline=None)


def read_names(path: str) -> List[str]:
    """The non-empty lines of a UTF-8 text file, stripped (``classes.txt``,
    ``channels.txt``)."""
    return [line.strip() for line in read_text(path).splitlines() if line.strip()]


def unique_names(names, where: str, what: str = "class name") -> list:
    """``names`` as a list, refusing duplicates (naming the first)."""
    names = list(names)
    seen = set()
    for n in names:
        if n in seen:
            raise DatasetFormatError(f"{where}: the {what} {n!r} appears twice")
        seen.add(n)
    return names


def parse_int(text: str, where: str, what: str) -> int:
    """An integer written as ``12`` (or ``12.0``); ``1.9`` or ``abc`` is a
    :class:`DatasetFormatError` naming ``where`` and ``what`` (never
    truncated)."""
    s = str(text).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        value = float(s)
    except ValueError:
        raise DatasetFormatError(f"{where}: {what} must be an integer, got {s!r}") from None
    if not value.is_integer():
        raise DatasetFormatError(f"{where}: {what} must be an integer, got {s!r} (not "
                                 f"truncated)")
    return int(value)


def read_numeric_csv(path: str, expected: Optional[int], what: str) -> np.ndarray:
    """Read a header-less numeric CSV (UTF-8, a byte-order mark allowed)
    into ``[rows, cols]`` float32, ``expected`` columns (or as many as the
    first row has); on any problem find the first offending line and raise
    a :class:`DatasetFormatError` naming it."""
    text = read_text(path)
    try:
        with warnings.catch_warnings():  # an empty file: "no data", checked below
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2,
                              comments=None)
        if expected is None or data.shape[1] == expected or data.size == 0:
            if not data.size:
                return np.zeros((0, expected or 0), np.float32)
            bad = ~(np.abs(data) <= MAX_ABS_VALUE)  # NaN too
            if bad.any():
                row, col = (int(i) for i in np.argwhere(bad)[0])
                lineno = _data_lines(text)[row]
                raise DatasetFormatError(f"{path}, line {lineno}, column {col + 1}: "
                                         f"{data[row, col]:.3g} is not a finite value within "
                                         f"+-{MAX_ABS_VALUE:.0e} ({what})")
            return data.astype(np.float32)
    except ValueError as e:
        if isinstance(e, DatasetFormatError):
            raise
    with io.StringIO(text, newline=None) as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            expected = len(row) if expected is None else expected
            if len(row) != expected:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: expected {expected} values ({what}), got {len(row)}")
            for col, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise DatasetFormatError(
                        f"{path}, line {lineno}, column {col + 1}: {cell.strip()!r} is not a "
                        f"number ({what})") from None
    raise DatasetFormatError(f"{path}: rows of unequal length ({what})")


def _data_lines(text: str) -> List[int]:
    """The line numbers of the non-empty lines of ``text`` (rows of loadtxt)."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def path_in_root(root: str, name: str, where: str) -> str:
    """``root/name``, refused (naming ``where``) when ``name`` is absolute or
    leads outside ``root`` (``../``, a link out of it): a label table only
    reaches the files of its dataset."""
    if os.path.isabs(name):
        raise DatasetFormatError(f"{where}: '{name}' is an absolute path; files are named "
                                 f"relative to the dataset root '{root}'")
    path = os.path.join(root, name)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise DatasetFormatError(f"{where}: '{name}' leads outside the dataset root '{root}'")
    return path
