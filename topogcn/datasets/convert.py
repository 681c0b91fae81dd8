"""Write any topogcn dataset in the :class:`SkeletonFolder` format."""
from __future__ import annotations

import csv
import io
import os
from typing import Iterable, Optional, Sequence

import numpy as np

from topogcn.datasets.base import SkeletonDataset
from topogcn.utils.io import atomic_path, atomic_write_text


def export_folder(splits: Iterable[SkeletonDataset], out: str,
                  joints: Optional[Sequence] = None) -> str:
    """Write the whole recordings of ``splits`` (datasets of one source, e.g.
    its train and test splits) to ``out``: one ``.npy`` ``[M, T, V, C]`` per
    recording, ``labels.csv`` (``file, label, start_frame, end_frame,
    subject, split``), ``classes.txt`` and ``skeleton.json``.  ``joints``
    (indices, joint or part names) keeps a subset of the skeleton."""
    splits = list(splits)
    if not splits:
        raise ValueError("export_folder: nothing to export")
    skeleton = splits[0].skeleton
    index = None
    if joints:
        skeleton = skeleton.subset(joints, name=f"{skeleton.name}_subset")
        index = list(skeleton.subset_indices)
    os.makedirs(out, exist_ok=True)
    rows = []
    for ds in splits:
        for rec in ds.recordings():
            data = rec.data.numpy()
            if index is not None:
                data = data[:, :, index]
            fname = f"{ds.split}_{rec.name}.npy"
            with atomic_path(os.path.join(out, fname)) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, data.astype(np.float32))
            for seg in rec.segments:
                rows.append([fname, ds.classes[seg.label], seg.start, seg.end, rec.subject,
                             ds.split])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "label", "start_frame", "end_frame", "subject", "split"])
    w.writerows(rows)
    atomic_write_text(os.path.join(out, "labels.csv"), buf.getvalue())
    atomic_write_text(os.path.join(out, "classes.txt"), "\n".join(splits[0].classes) + "\n")
    skeleton.to_file(os.path.join(out, "skeleton.json"))
    return out
