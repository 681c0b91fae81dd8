"""The SkeletonFolder layout, defined once: what ``topogcn convert`` writes
and :class:`~topogcn.datasets.SkeletonFolder` reads.

.. code-block:: text

    ROOT/labels.csv     file,label[,start_frame,end_frame][,subject][,split]
    ROOT/classes.txt    optional, one class name per line
    ROOT/skeleton.json  optional, the skeleton
    ROOT/channels.txt   optional, one channel name per line (x, y[, z], then others)
    ROOT/rec001.npy     [T, V, C] or [M, T, V, C]   (or .npz, .csv, .skeleton)
"""
from __future__ import annotations

import csv
import io
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import check_finite
from topogcn.io.text import open_text
from topogcn.skeleton import Skeleton
from topogcn.utils.io import atomic_dir

LABELS_FILE = "labels.csv"
CLASSES_FILE = "classes.txt"
SKELETON_FILE = "skeleton.json"
CHANNELS_FILE = "channels.txt"
#: the columns of ``labels.csv``: ``file`` and ``label`` required, the others optional
LABEL_COLUMNS = ("file", "label", "start_frame", "end_frame", "subject", "split")
FOLDER_LAYOUT = """\
Expected layout:
  ROOT/labels.csv     header 'file,label' and optionally 'start_frame,end_frame,subject,split'
  ROOT/classes.txt    optional: one class name per line (line k = label k)
  ROOT/skeleton.json  optional: the skeleton (else pass one)
  ROOT/channels.txt   optional: one channel name per line (x, y[, z] first, then e.g.
                      confidence); without it 2 channels are x, y and 3 are x, y, z
  ROOT/<file>         one file per recording: .npy/.npz [T, V, C] or [M, T, V, C],
                      or .csv with one row per frame of V*C values (joint-major)"""


def read_label_csv(path: str) -> Iterator[Tuple[int, Dict[str, str]]]:
    """``(line number, row)`` of a label table with a ``file,label[,...]``
    header (keys and values stripped).  A header naming a column twice, and
    a clip (file, start and end frame) labelled twice, are errors."""
    with open_text(path) as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        for need in LABEL_COLUMNS[:2]:
            if need not in header:
                raise DatasetFormatError(f"{path}, line 1: missing column '{need}' (header "
                                         f"{header}; expected 'file,label[,start_frame,"
                                         f"end_frame,subject,split]')")
        twice = sorted({h for h in header if header.count(h) > 1 and h})
        if twice:
            raise DatasetFormatError(f"{path}, line 1: the column(s) {twice} appear twice")
        seen: Dict[Tuple[str, ...], int] = {}
        for lineno, raw in enumerate(reader, start=2):
            row = {k.strip(): (v if isinstance(v, str) else "").strip()
                   for k, v in raw.items() if k}
            key = tuple(row.get(k, "") for k in ("file", "start_frame", "end_frame"))
            if row.get("file") and key in seen:
                raise DatasetFormatError(f"{path}, line {lineno}: the clip {key[0]} "
                                         f"{key[1] or 'start'}..{key[2] or 'end'} is labelled "
                                         f"on line {seen[key]} already")
            seen[key] = lineno
            yield lineno, row


def read_label_table(path: str) -> List[Dict[str, Union[str, int]]]:
    """A converter's label table: CSV with a header holding ``file`` and
    ``label`` and optionally ``start_frame, end_frame, subject, split``
    (:data:`LABEL_COLUMNS`).  ``file`` names a source recording.  Each row
    comes back with its line number under ``"line"``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Label table '{path}' does not exist (expected a CSV with "
                                f"the header 'file,label[,start_frame,end_frame,subject,split]')")
    rows = []
    for lineno, row in read_label_csv(path):
        if not any(row.values()):
            continue
        if not row.get("file") or not row.get("label"):
            raise DatasetFormatError(f"{path}, line {lineno}: 'file' and 'label' must not be "
                                     f"empty")
        for key in ("start_frame", "end_frame"):
            if row.get(key) and not row[key].lstrip("-").isdigit():
                raise DatasetFormatError(f"{path}, line {lineno}: {key} must be an integer, "
                                         f"got {row[key]!r}")
        row["line"] = lineno
        rows.append(row)
    if not rows:
        raise DatasetFormatError(f"{path}: the label table has no row")
    return rows


def write_folder(out: str, skeleton: Skeleton, recordings: Iterable[Tuple[str, np.ndarray]],
                  rows: List[List], classes: Optional[List[str]],
                  channels: Sequence[str]) -> str:
    """Write a SkeletonFolder into ``out`` (which must not exist or be empty),
    atomically: ``recordings`` are ``(file name, [M, T, V, C])``, written
    as ``.npy``; ``rows`` the label table rows in :data:`LABEL_COLUMNS`
    order; ``classes`` the class names (``classes.txt``, when given);
    ``channels`` the meaning of the channels (``channels.txt``)."""
    with atomic_dir(out) as tmp:
        for fname, data in recordings:
            # what is written is what a reader accepts: finite, within the limits
            check_finite(np.asarray(data).transpose(1, 0, 2, 3), f"{fname} (converted)")
            with open(os.path.join(tmp, fname), "wb") as f:
                np.save(f, np.ascontiguousarray(data, dtype=np.float32))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(LABEL_COLUMNS)
        w.writerows(rows)
        with open(os.path.join(tmp, LABELS_FILE), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        if classes:
            with open(os.path.join(tmp, CLASSES_FILE), "w", encoding="utf-8") as f:
                f.write("\n".join(classes) + "\n")
        skeleton.to_file(os.path.join(tmp, SKELETON_FILE))
        with open(os.path.join(tmp, CHANNELS_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(channels) + "\n")
    return out
