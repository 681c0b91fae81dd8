"""Reading JSON files whose structure comes from elsewhere (OpenPose, COCO,
mmpose): every value's type is checked before it is used, and errors name
the file and the key."""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_ABS_VALUE
from topogcn.io.text import read_text


def load_json(path: str, what: str) -> Any:
    """The parsed JSON of ``path`` (UTF-8); anything else is an error naming
    the file and ``what`` it should have been."""
    try:
        return json.loads(read_text(path))
    except (json.JSONDecodeError, RecursionError) as e:
        raise DatasetFormatError(f"{path}: not a valid {what} file "
                                 f"({str(e)[:200] or type(e).__name__})") from None


def kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numbers(value: Any, where: str, shape: Sequence[int]) -> np.ndarray:
    """``value`` as a float64 array of ``shape``: a list of numbers (one
    level of nested lists for a 2-D shape), finite and within
    ``MAX_ABS_VALUE``; anything else is an error naming ``where``."""
    if not isinstance(value, list):
        raise DatasetFormatError(f"{where}: expected a list of {int(np.prod(shape))} numbers, "
                                 f"got {kind(value)}")
    flat = value
    if len(shape) == 2 and value and isinstance(value[0], list):
        if not all(isinstance(row, list) and len(row) == shape[1] for row in value):
            raise DatasetFormatError(f"{where}: expected {shape[0]} rows of {shape[1]} numbers")
        flat = [v for row in value for v in row]
    if len(flat) != int(np.prod(shape)):
        raise DatasetFormatError(f"{where}: {len(flat)} values, expected {int(np.prod(shape))}"
                                 f" ({' x '.join(map(str, shape))})")
    bad = next((v for v in flat if not _is_number(v)), None) if not all(map(_is_number, flat)) \
        else None
    if bad is not None or not all(map(_is_number, flat)):
        raise DatasetFormatError(f"{where}: expected numbers, found {kind(bad)}")
    arr = np.asarray(flat, dtype=np.float64).reshape(shape)
    if not np.isfinite(arr).all() or (np.abs(arr) > MAX_ABS_VALUE).any():
        raise DatasetFormatError(f"{where}: NaN or infinite values, or values beyond "
                                 f"+-{MAX_ABS_VALUE:.0e}")
    return arr
