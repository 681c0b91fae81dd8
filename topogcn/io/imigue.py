"""iMiGUE files: the MiGA-challenge release (``XXXX_light_hand.csv``,
``XXXX_label.csv``) and the clip table of the JSON release."""
from __future__ import annotations

import csv
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import check_finite
from topogcn.io.segments import Segment
from topogcn.io.text import open_text, parse_int, read_numeric_csv
from topogcn.skeleton.builtins import LHAND_OFFSET, RHAND_OFFSET

IMIGUE_NUM_CLASSES = 32
FINGERTIPS = (4, 8, 12, 16, 20)
#: Where the 35 points of a MiGA ``*_light_hand.csv`` row sit in ``openpose137``:
#: BODY_25, then the right-hand fingertips, then the left-hand fingertips.
MIGA_POINTS = (tuple(range(25)) + tuple(RHAND_OFFSET + t for t in FINGERTIPS)
               + tuple(LHAND_OFFSET + t for t in FINGERTIPS))
#: the column names of the JSON release's clip table (``columns`` of IMiGUE)
DEFAULT_COLUMNS = {"video": "video_id", "label": "label_id", "start": "start_frame",
                   "end": "end_frame", "subject": "subject_id", "split": "split"}


def imigue_label(label: int) -> Optional[int]:
    """Dataset label (1-31, or 99 for 'non-micro-gesture') -> 0-based class."""
    if label == 99:
        return IMIGUE_NUM_CLASSES - 1
    if 1 <= label <= 31:
        return label - 1
    return None


def read_miga_light_hand(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """A MiGA ``*_light_hand.csv`` (no header; a frame index, then 35 points
    x (x, y, confidence)) as the frame indices ``[T]`` (int64, increasing)
    and the points ``[T, 35, 3]``."""
    n = len(MIGA_POINTS)
    raw = read_numeric_csv(path, 1 + 3 * n, f"a frame index and {n} points x 3")
    if raw.shape[0] == 0:
        raise DatasetFormatError(f"{path}: no frame")
    frame_ids = raw[:, 0].astype(np.int64)
    if (frame_ids != raw[:, 0]).any():
        k = int(np.argmax(frame_ids != raw[:, 0]))
        raise DatasetFormatError(f"{path}, line {k + 1}: the frame index must be an integer, "
                                 f"got {raw[k, 0]}")
    steps = np.diff(frame_ids)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0)) + 1
        raise DatasetFormatError(f"{path}, line {k + 1}: frame index {frame_ids[k]} does not "
                                 f"follow {frame_ids[k - 1]} (indices must increase)")
    pts = raw[:, 1:].reshape(-1, n, 3)
    check_finite(pts, path)
    return frame_ids, pts


#: one row of a clip table: (line, segment, subject, split or None)
ClipRow = Tuple[int, Segment, int, Optional[str]]


def read_clip_table(path: str, columns: Mapping[str, str] = DEFAULT_COLUMNS
                    ) -> Dict[str, List[ClipRow]]:
    """The clip table of iMiGUE's JSON release: video -> its rows, each
    ``(line, Segment, subject, split or None)``; ``columns`` maps ``video,
    label, start, end, subject, split`` to the header's names."""
    cols = {**DEFAULT_COLUMNS, **columns}
    out: Dict[str, List[ClipRow]] = {}
    with open_text(path) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        need = [cols[k] for k in ("video", "label", "start", "end", "subject")]
        absent = [c for c in need if c not in header]
        if absent:
            raise DatasetFormatError(f"{path}, line 1: missing columns {absent}; the header "
                                     f"is {header} (set `columns` to map your names)")
        for lineno, row in enumerate(reader, start=2):
            where = f"{path}, line {lineno}"
            values = [row[cols[k]] for k in ("label", "start", "end", "subject")]
            if any(v is None for v in values):
                raise DatasetFormatError(f"{where}: expected integer label, start, end and "
                                         f"subject, got {dict(row)}")
            label = parse_int(values[0], where, "the label")
            start = parse_int(values[1], where, "the start frame")
            end = parse_int(values[2], where, "the end frame")
            subject = parse_int(values[3], where, "the subject")
            y = imigue_label(label)
            if y is None:
                raise DatasetFormatError(f"{where}: label {label} is not an iMiGUE class (1-31 "
                                         f"or 99)")
            split = row.get(cols["split"]) if cols["split"] in header else None
            if split is not None and split.strip() not in ("train", "test"):
                raise DatasetFormatError(f"{where}: split {split!r} is not 'train' or 'test'")
            out.setdefault(str(row[cols["video"]]).strip(), []).append(
                (lineno, Segment(y, start, end), subject, split.strip() if split else None))
    return out
