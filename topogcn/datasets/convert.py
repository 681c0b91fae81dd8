"""Write skeleton data in the :class:`~topogcn.datasets.SkeletonFolder` format.

* :func:`export_folder`: any topogcn dataset (SMG, iMiGUE, synthetic, ...);
* :func:`convert_openpose_json`: OpenPose's per-frame JSON output;
* :func:`convert_mediapipe_csv`: MediaPipe Pose landmarks, one CSV per
  recording.

Every converter writes into a temporary folder beside ``out`` and renames it
at the end: ``out`` holds either the complete output or nothing.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import DatasetFormatError, SkeletonDataset
from topogcn.datasets.files import check_frame_indices, open_text, parse_int, read_names, \
    unique_names
from topogcn.datasets.folder import CHANNELS_FILE, SKELETON_FILE, read_label_csv
from topogcn.datasets.imigue import fill_missing, read_openpose_people
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.utils.io import atomic_dir

LABEL_COLUMNS = ("file", "label", "start_frame", "end_frame", "subject", "split")
_OPENPOSE_FRAME = re.compile(r"^(.*)_(\d{12})_keypoints\.json$")


def _subset(skeleton: Skeleton, joints: Optional[Sequence]) -> Tuple[Skeleton, Optional[list]]:
    if not joints:
        return skeleton, None
    sub = skeleton.subset(joints, name=f"{skeleton.name}_subset")
    return sub, list(sub.subset_indices)


def _write_folder(out: str, skeleton: Skeleton, recordings: Iterable[Tuple[str, np.ndarray]],
                  rows: List[List], classes: Optional[List[str]],
                  channels: Sequence[str]) -> str:
    """``recordings``: ``(file name, [M, T, V, C])``; ``rows``: label table
    rows in :data:`LABEL_COLUMNS` order; ``channels``: the meaning of the
    channels (``channels.txt``)."""
    with atomic_dir(out) as tmp:
        for fname, data in recordings:
            with open(os.path.join(tmp, fname), "wb") as f:
                np.save(f, np.ascontiguousarray(data, dtype=np.float32))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(LABEL_COLUMNS)
        w.writerows(rows)
        with open(os.path.join(tmp, "labels.csv"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        if classes:
            with open(os.path.join(tmp, "classes.txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(classes) + "\n")
        skeleton.to_file(os.path.join(tmp, SKELETON_FILE))
        with open(os.path.join(tmp, CHANNELS_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(channels) + "\n")
    return out


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
    skeleton, index = _subset(splits[0].skeleton, joints)
    rows: List[List] = []

    def recordings():
        for ds in splits:
            for rec in ds.recordings():
                data = rec.data.numpy()
                fname = f"{ds.split}_{rec.name}.npy"
                for seg in rec.segments:
                    rows.append([fname, ds.classes[seg.label], seg.start, seg.end,
                                 rec.subject, ds.split])
                yield fname, data if index is None else data[:, :, index]

    # `rows` fills up while the recordings are written, before labels.csv
    return _write_folder(out, skeleton, recordings(), rows, list(splits[0].classes),
                         splits[0].channels)


# ------------------------------------------------------------------ labels
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


def _convert(recordings: Dict[str, np.ndarray], labels: str, out: str, skeleton: Skeleton,
             joints: Optional[Sequence], source: str, channels: Sequence[str]) -> str:
    """Check the label table against ``recordings`` (name -> ``[M, T, V,
    C]``), then write the folder."""
    table = read_label_table(labels)
    skeleton, index = _subset(skeleton, joints)
    rows, used = [], set()
    for r in table:
        name = r["file"]
        if name not in recordings and os.path.splitext(name)[0] in recordings:
            name = os.path.splitext(name)[0]
        if name not in recordings:
            known = ", ".join(sorted(recordings)[:5]) + (" ..." if len(recordings) > 5 else "")
            raise DatasetFormatError(f"{labels}, line {r['line']}: recording '{r['file']}' is "
                                     f"not in the {source} input (found: {known})")
        T = recordings[name].shape[1]
        where = f"{labels}, line {r['line']}"
        start = parse_int(r["start_frame"], where, "start_frame") if r.get("start_frame") else 0
        end = parse_int(r["end_frame"], where, "end_frame") if r.get("end_frame") else T - 1
        if not 0 <= start <= end < T:
            raise DatasetFormatError(f"{labels}, line {r['line']}: frames {start}..{end} out of "
                                     f"range for '{name}', which has {T} frames (0..{T - 1})")
        used.add(name)
        rows.append([f"{name}.npy", r["label"], r.get("start_frame", ""),
                     r.get("end_frame", ""), r.get("subject", ""), r.get("split", "")])
    classes = None
    classes_file = os.path.join(os.path.dirname(os.path.abspath(labels)), "classes.txt")
    if os.path.isfile(classes_file):
        classes = unique_names(read_names(classes_file), classes_file)
    data = ((f"{n}.npy", recordings[n] if index is None else recordings[n][:, :, index])
            for n in sorted(used))
    return _write_folder(out, skeleton, data, rows, classes, channels)


# ---------------------------------------------------------------- OpenPose
def find_openpose_recordings(root: str) -> Dict[str, Dict[int, str]]:
    """Recording name -> {frame index: JSON path}.  A recording is a
    sub-folder of ``root`` holding ``<anything>_<12 digits>_keypoints.json``
    files (named after the folder), or the files in ``root`` itself sharing
    the prefix before ``_<12 digits>_keypoints.json``."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"OpenPose folder '{root}' does not exist (expected one "
                                f"sub-folder per recording of '*_<12 digits>_keypoints.json' "
                                f"files, as written by OpenPose's --write_json)")
    found: Dict[str, Dict[int, str]] = {}
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if os.path.isdir(path):
            frames = {}
            for fname in os.listdir(path):
                m = _OPENPOSE_FRAME.match(fname)
                if m:
                    frames[int(m.group(2))] = os.path.join(path, fname)
            if frames:
                found[entry] = frames
        else:
            m = _OPENPOSE_FRAME.match(entry)
            if m:
                found.setdefault(m.group(1), {})[int(m.group(2))] = path
    if not found:
        raise DatasetFormatError(f"'{root}' holds no OpenPose JSON file "
                                 f"('<name>_<12 digits>_keypoints.json', in sub-folders or at "
                                 f"the top)")
    return found


def read_openpose_recording(frames: Dict[int, str], max_persons: int = 1,
                            missing: str = "zeros") -> Tuple[np.ndarray, bool]:
    """``[M, T, 137, 3]`` of one recording (``T`` = last frame index + 1;
    frames without a file or a person are zeros, or interpolated with
    ``missing="interpolate"``), and whether face/hand keypoints occur."""
    T = check_frame_indices(frames, os.path.dirname(next(iter(frames.values()))))
    data = np.zeros((max_persons, T, 137, 3), np.float32)
    present = np.zeros((max_persons, T), bool)
    extra = False
    for t, path in frames.items():
        people, has_extra = read_openpose_people(path)
        extra |= has_extra
        k = min(max_persons, len(people))
        data[:k, t], present[:k, t] = people[:k], True
    for m in range(max_persons):
        data[m] = fill_missing(data[m], present[m], missing)
    return data, extra


def convert_openpose_json(root: str, labels: str, out: str,
                          skeleton: Union[str, Skeleton, None] = None, max_persons: int = 1,
                          joints: Optional[Sequence] = None, missing: str = "zeros") -> str:
    """Convert OpenPose ``--write_json`` output to a :class:`SkeletonFolder`.

    Args:
        root (str): One sub-folder per recording (or one prefix per recording)
            of ``<name>_<12 digits>_keypoints.json`` files.
        labels (str): Label table whose ``file`` column names the recordings
            (see :func:`read_label_table`); a ``classes.txt`` beside it is
            copied.
        out (str): Output folder (must not exist or be empty).
        skeleton (str or Skeleton, optional): ``"openpose25"`` (BODY_25) or
            ``"openpose137"`` (with face and hands).  (default: ``openpose137``
            when any file has face or hand keypoints, else ``openpose25``)
        max_persons (int, optional): Persons kept per frame, by summed
            BODY_25 confidence. (default: :obj:`1`)
        joints (sequence, optional): Keep a subset (indices, joint or part
            names), e.g. ``["upper_body", "fingertips"]``.
        missing (str, optional): Frames without a detection: ``"zeros"`` or
            ``"interpolate"``. (default: :obj:`"zeros"`)

    Channels are (x, y, confidence), as OpenPose writes them.
    """
    if max_persons < 1:
        raise ValueError(f"max_persons must be at least 1, got {max_persons}")
    if missing not in ("zeros", "interpolate"):
        raise ValueError(f"missing must be 'zeros' or 'interpolate', got {missing!r}")
    recordings, any_extra = {}, False
    needed = {r["file"] for r in read_label_table(labels)}
    for name, frames in find_openpose_recordings(root).items():
        if name not in needed and f"{name}.json" not in needed:
            continue
        recordings[name], extra = read_openpose_recording(frames, max_persons, missing)
        any_extra |= extra
    skel = get_skeleton(skeleton or ("openpose137" if any_extra else "openpose25"))
    if skel.num_nodes not in (25, 137):
        raise ValueError(f"OpenPose output maps to openpose25 or openpose137, not "
                         f"'{skel.name}' ({skel.num_nodes} joints); use joints=... for subsets")
    if skel.num_nodes == 25:
        recordings = {n: d[:, :, :25] for n, d in recordings.items()}
    return _convert(recordings, labels, out, skel, joints, "OpenPose",
                    ("x", "y", "confidence"))


# --------------------------------------------------------------- MediaPipe
def read_mediapipe_csv(path: str, joint_names: Sequence[str],
                       missing: str = "zeros") -> np.ndarray:
    """One recording of MediaPipe Pose landmarks as ``[1, T, 33, 3]`` (x, y,
    z).  The CSV has a header and one row per frame with the columns
    ``<landmark>_x, <landmark>_y, <landmark>_z`` for the 33 landmark names
    (``nose``, ``left_eye_inner``, ... as MediaPipe names them; case does
    not matter); other columns (``frame``, ``*_visibility``, ...) are
    ignored.  A row whose cells are empty (nobody detected) is a missing
    frame."""
    with open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DatasetFormatError(f"{path}: empty file (expected a header with "
                                     f"'<landmark>_x,<landmark>_y,<landmark>_z' columns)")
        col: Dict[str, int] = {}
        for i, h in enumerate(header):
            key = h.strip().lower()
            if key in col and key:
                raise DatasetFormatError(f"{path}, line 1: column '{h.strip()}' appears twice "
                                         f"(columns {col[key] + 1} and {i + 1})")
            col[key] = i
        index = []
        for name in joint_names:
            for axis in ("x", "y", "z"):
                key = f"{name.lower()}_{axis}"
                if key not in col:
                    raise DatasetFormatError(f"{path}, line 1: missing column '{key}' "
                                             f"(expected x, y, z columns of the "
                                             f"{len(joint_names)} MediaPipe landmarks)")
                index.append(col[key])
        frames, present = [], []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            cells = [row[i].strip() if i < len(row) else "" for i in index]
            if all(not c for c in cells):
                frames.append(np.zeros(len(index), np.float32))
                present.append(False)
                continue
            try:
                vals = np.array([float(c) for c in cells], np.float32)
            except ValueError:
                bad = next(k for k, c in enumerate(cells) if not _is_float(c))
                raise DatasetFormatError(f"{path}, line {lineno}, column "
                                         f"'{header[index[bad]].strip()}': {cells[bad]!r} is "
                                         f"not a number") from None
            if not np.isfinite(vals).all():
                raise DatasetFormatError(f"{path}, line {lineno}: NaN or infinite coordinates")
            frames.append(vals)
            present.append(True)
    if not frames:
        raise DatasetFormatError(f"{path}: no frame (only a header)")
    if not any(present):
        raise DatasetFormatError(f"{path}: no frame has a detection (every row is empty)")
    data = np.stack(frames).reshape(len(frames), len(joint_names), 3)
    return fill_missing(data, np.array(present), missing)[None]


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def convert_mediapipe_csv(root: str, labels: str, out: str,
                          joints: Optional[Sequence] = None, missing: str = "zeros") -> str:
    """Convert MediaPipe Pose landmark CSVs (one per recording, see
    :func:`read_mediapipe_csv`) in ``root`` to a :class:`SkeletonFolder` on
    the ``mediapipe33`` skeleton.  ``labels``' ``file`` column names the
    CSV files (with or without ``.csv``); other arguments as
    :func:`convert_openpose_json`."""
    if missing not in ("zeros", "interpolate"):
        raise ValueError(f"missing must be 'zeros' or 'interpolate', got {missing!r}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"MediaPipe folder '{root}' does not exist (expected one CSV "
                                f"per recording)")
    skel = get_skeleton("mediapipe33")
    needed = {os.path.splitext(r["file"])[0] for r in read_label_table(labels)}
    recordings = {}
    for fname in sorted(os.listdir(root)):
        name, ext = os.path.splitext(fname)
        if ext.lower() == ".csv" and name in needed:
            recordings[name] = read_mediapipe_csv(os.path.join(root, fname), skel.joint_names,
                                                  missing)
    return _convert(recordings, labels, out, skel, joints, "MediaPipe", ("x", "y", "z"))


__all__ = ["export_folder", "convert_openpose_json", "convert_mediapipe_csv",
           "read_label_table", "read_mediapipe_csv", "find_openpose_recordings",
           "read_openpose_recording"]
