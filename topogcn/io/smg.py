"""SMG files (Kinect v2): ``SampleXXXX_skeleton.csv`` and the label rows
``label,start_frame,end_frame`` that SMG's ``*_finelabels.csv`` and the
MiGA release's ``*_label.csv`` share."""
from __future__ import annotations

import csv
from typing import Callable, List, Optional, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import check_finite
from topogcn.io.segments import Segment
from topogcn.io.text import open_text, parse_int, read_numeric_csv

SMG_NUM_JOINTS = 25
#: values per joint in a row of ``*_skeleton.csv``: x, y, z in metres, then
#: depth and colour pixel coordinates and the joint orientation
SMG_VALUES_PER_JOINT = 11


def read_smg_skeleton(path: str) -> np.ndarray:
    """An SMG ``*_skeleton.csv`` (no header, one row per frame, 25 joints x
    11 values) as ``[T, 25, 3]`` (x, y, z)."""
    raw = read_numeric_csv(path, SMG_NUM_JOINTS * SMG_VALUES_PER_JOINT,
                           f"{SMG_NUM_JOINTS} joints x {SMG_VALUES_PER_JOINT}")
    if raw.shape[0] == 0:
        raise DatasetFormatError(f"{path}: no frame")
    xyz = raw.reshape(-1, SMG_NUM_JOINTS, SMG_VALUES_PER_JOINT)[:, :, :3]
    check_finite(xyz, path)
    return np.ascontiguousarray(xyz)


def read_label_rows(path: str, num_classes: int,
                    label_map: Optional[Callable[[int], Optional[int]]] = None
                    ) -> Tuple[List[Segment], List[int]]:
    """Rows ``label,start,end`` (1-based labels, or mapped by ``label_map``)."""
    segs, lines = [], []
    with open_text(path) as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            row = [c.strip() for c in row]
            if not row or all(not c for c in row):
                continue
            if len(row) < 3:
                raise DatasetFormatError(f"{path}, line {lineno}: expected "
                                         f"'label,start_frame,end_frame', got {','.join(row)!r}")
            where = f"{path}, line {lineno}"
            label = parse_int(row[0], where, "the label")
            start = parse_int(row[1], where, "the start frame")
            end = parse_int(row[2], where, "the end frame")
            y = label_map(label) if label_map else label - 1
            if y is None or not 0 <= y < num_classes:
                raise DatasetFormatError(f"{path}, line {lineno}: label {label} outside the "
                                         f"class range")
            segs.append(Segment(y, start, end))
            lines.append(lineno)
    return segs, lines
