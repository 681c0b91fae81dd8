"""iMiGUE, micro-gestures of post-match press conferences (OpenPose keypoints)."""
from __future__ import annotations

import csv
import json
import os
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import (
    CachedSkeletonDataset,
    DatasetFormatError,
    RawRecording,
    Segment,
    check_finite,
    check_segments,
)
from topogcn.datasets.smg import read_label_rows, read_numeric_csv
from topogcn.datasets.files import check_frame_indices, open_text, parse_int, path_in_root, \
    read_text
from topogcn.datasets.registry import register_dataset
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.skeleton.builtins import LHAND_OFFSET, RHAND_OFFSET

IMIGUE_NUM_CLASSES = 32
FINGERTIPS = (4, 8, 12, 16, 20)
#: Where the 35 points of a MiGA ``*_light_hand.csv`` row sit in ``openpose137``:
#: BODY_25, then the right-hand fingertips, then the left-hand fingertips.
MIGA_POINTS = (tuple(range(25)) + tuple(RHAND_OFFSET + t for t in FINGERTIPS)
               + tuple(LHAND_OFFSET + t for t in FINGERTIPS))
MIGA_FOLDERS = {"train": "imigue_skeleton_train", "val": "imigue_skeleton_validate",
                "test": "imigue_skeleton_test"}
DEFAULT_COLUMNS = {"video": "video_id", "label": "label_id", "start": "start_frame",
                   "end": "end_frame", "subject": "subject_id", "split": "split"}
_FRAME_RE = re.compile(r"_(\d{12})_keypoints\.json$")

IMIGUE_LAYOUT = """\
Expected one of two layouts:
  format="openpose_json" (the iMiGUE release):
    ROOT/labels.csv                  header: video_id,label_id,start_frame,end_frame,subject_id
                                     (+ optional 'split' column: train/test)
    ROOT/<video_id>/<video>_<frame, 12 digits>_keypoints.json   one OpenPose JSON per frame
  format="miga" (the MiGA-challenge release):
    ROOT/imigue_skeleton_train/XXXX/XXXX_light_hand.csv   frame index + 35 points x (x, y, conf)
    ROOT/imigue_skeleton_train/XXXX/XXXX_label.csv        rows 'class,start_frame,end_frame'
    ROOT/imigue_skeleton_validate/..., ROOT/imigue_skeleton_test/...
iMiGUE is distributed by its authors (University of Oulu, CMVS; see the iMiGUE paper,
CVPR 2021, and the repository linuxsino/iMiGUE for the access form)."""


def imigue_label(label: int) -> Optional[int]:
    """Dataset label (1-31, or 99 for 'non-micro-gesture') -> 0-based class."""
    if label == 99:
        return IMIGUE_NUM_CLASSES - 1
    if 1 <= label <= 31:
        return label - 1
    return None


def read_openpose_people(path: str) -> Tuple[np.ndarray, bool]:
    """Every person of one OpenPose JSON frame as ``[P, 137, 3]`` (x, y,
    confidence; BODY_25, face, left hand, right hand), ordered by summed
    BODY_25 confidence (highest first, ties in file order), and whether any
    person has face or hand keypoints."""
    try:
        data = json.loads(read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{path}: not a valid OpenPose JSON file ({e})") from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise DatasetFormatError(f"{path}: no 'people' list (expected OpenPose JSON output)")
    persons, extra = [], False
    for k, person in enumerate(people):
        parts = []
        for key, n in (("pose_keypoints_2d", 25), ("face_keypoints_2d", 70),
                       ("hand_left_keypoints_2d", 21), ("hand_right_keypoints_2d", 21)):
            vals = person.get(key) if isinstance(person, dict) else None
            if key != "pose_keypoints_2d" and vals:
                extra = True
            vals = vals or [0.0] * (3 * n)
            if len(vals) != 3 * n:
                raise DatasetFormatError(f"{path}: person {k} '{key}' has {len(vals)} values, "
                                         f"expected {3 * n} ({n} keypoints x 3)")
            try:
                parts.append(np.asarray(vals, dtype=np.float64).reshape(n, 3))
            except (TypeError, ValueError):
                raise DatasetFormatError(f"{path}: person {k} '{key}' holds non-numeric "
                                         f"values") from None
        pts = np.concatenate(parts)
        if not np.isfinite(pts).all():
            raise DatasetFormatError(f"{path}: person {k} has NaN or infinite keypoints")
        persons.append(pts)
    if not persons:
        return np.zeros((0, 137, 3), np.float32), False
    stacked = np.stack(persons)
    order = np.argsort(-stacked[:, :25, 2].sum(1), kind="stable")
    return stacked[order].astype(np.float32), extra


def read_openpose_frame(path: str) -> Optional[np.ndarray]:
    """The main person of one OpenPose JSON frame as ``[137, 3]`` (x, y,
    confidence), or :obj:`None` when nobody was detected.  The main person is
    the one with the highest summed BODY_25 confidence."""
    people, _ = read_openpose_people(path)
    return people[0] if len(people) else None


def fill_missing(data: np.ndarray, present: np.ndarray, mode: str) -> np.ndarray:
    """Frames where nobody was detected: ``"zeros"`` keeps zeros,
    ``"interpolate"`` interpolates every value linearly between the nearest
    detected frames (holding the first/last detection at the ends)."""
    if mode == "zeros" or present.all() or not present.any():
        return data
    t = np.arange(len(data))
    flat = data.reshape(len(data), -1)
    out = np.empty_like(flat)
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, t[present], flat[present, c])
    return out.reshape(data.shape)


class IMiGUE(CachedSkeletonDataset):
    r"""The iMiGUE dataset (Liu et al., CVPR 2021): OpenPose keypoints of
    tennis players in post-match press conferences, 32 classes (labels
    1-31 and 99 "non-micro-gesture", mapped to 0-31), 2-D coordinates with
    the confidence as the third channel (the paper's "pseudo dimension").

    Two layouts are read (``format="auto"`` detects them):

    * ``"openpose_json"``: per-video folders of per-frame OpenPose JSON files
      and a clip table ``labels.csv`` (column names configurable through
      ``columns``; defaults ``video_id, label_id, start_frame, end_frame,
      subject_id`` and an optional ``split``).  Frames are numbered by the
      12-digit index in the file names; ``start .. end`` is inclusive.  The
      split comes from the ``split`` column when present, else from
      ``test_subjects`` (the cross-subject protocol of the paper: 37
      training and 35 test subjects).
    * ``"miga"``: the MiGA-challenge release read by its public tools:
      ``imigue_skeleton_{train,validate,test}/XXXX/XXXX_light_hand.csv`` (a
      frame index, then 35 points: BODY_25, five right and five left
      fingertips) and ``XXXX_label.csv`` (``class,start,end``).  As the tool
      does, label frames get ``label_frame_offset`` (+1) added and are
      matched to the frame-index column, inclusive.  The split is the
      folder's (``validate`` is ``split="val"``); the subject is unknown
      and the video number stands in for it.

    Persons: in a JSON frame with several people the main one is the person
    with the highest summed BODY_25 confidence; frames with nobody are
    ``missing="interpolate"`` (default) or ``"zeros"``.  Keypoints OpenPose
    did not find stay ``(0, 0, 0)``: their zero confidence tells the model.

    Joints: ``skeleton`` selects the joints (default ``"openpose137"`` for
    JSON, ``"miga22"`` for MiGA): ``openpose137`` or any subset of it made
    with :meth:`~topogcn.skeleton.Skeleton.subset` (e.g.
    ``"openpose137_upper"``).

    Args:
        root (str): The dataset folder.
        split (str): ``"train"``, ``"val"`` or ``"test"``.
        format (str): ``"auto"``, ``"openpose_json"`` or ``"miga"``.
        skeleton (Skeleton or str, optional): The joints to keep.
        frames (int, optional): Frames per clip. (default: 64)
        transform (callable, optional): Applied to ``[1, T, V, 3]`` clips.
        label_file (str): Clip table of the JSON layout. (default: ``labels.csv``)
        columns (mapping, optional): Column names of the clip table.
        test_subjects (sequence of int, optional): Test subjects (JSON
            layout without a ``split`` column).
        missing (str): ``"interpolate"`` or ``"zeros"``.
        label_frame_offset (int): Added to MiGA label frames. (default: 1)
        class_names (sequence of str, optional): 32 names.
        val_subjects, cache_dir, on_error, force_reload: as
            :class:`~topogcn.datasets.SMG`.
    """

    channels = ("x", "y", "confidence")

    def __init__(self, root: Union[str, os.PathLike], split: str = "train",
                 format: str = "auto", skeleton: Union[None, str, Skeleton] = None,
                 frames: Optional[int] = 64, transform=None, label_file: str = "labels.csv",
                 columns: Optional[Mapping[str, str]] = None,
                 test_subjects: Optional[Sequence[int]] = None, missing: str = "interpolate",
                 label_frame_offset: int = 1, class_names: Optional[Sequence[str]] = None,
                 val_subjects: Union[None, int, Sequence[int]] = None,
                 cache_dir: Optional[Union[str, os.PathLike]] = None, on_error: str = "raise",
                 force_reload: bool = False) -> None:
        root = os.fspath(root)
        if format not in ("auto", "openpose_json", "miga"):
            raise ValueError(f"IMiGUE: format must be 'auto', 'openpose_json' or 'miga', got "
                             f"{format!r}")
        if missing not in ("interpolate", "zeros"):
            raise ValueError(f"IMiGUE: missing must be 'interpolate' or 'zeros', got {missing!r}")
        self.root = root
        self.format = self._detect(root) if format == "auto" else format
        self.skeleton = get_skeleton(skeleton or (
            "miga22" if self.format == "miga" else "openpose137"))
        self.joint_index = self._joint_index(self.skeleton)
        self.label_file = label_file
        unknown = set(columns or {}) - set(DEFAULT_COLUMNS)
        if unknown:
            raise ValueError(f"IMiGUE: unknown columns keys {sorted(unknown)}; valid: "
                             f"{sorted(DEFAULT_COLUMNS)}")
        self.columns = {**DEFAULT_COLUMNS, **(columns or {})}
        self.test_subjects = None if test_subjects is None else tuple(int(s) for s in
                                                                     test_subjects)
        self.missing = missing
        self.label_frame_offset = label_frame_offset
        if class_names is not None and len(class_names) != IMIGUE_NUM_CLASSES:
            raise ValueError(f"IMiGUE: class_names must have {IMIGUE_NUM_CLASSES} names")
        self.classes = list(class_names) if class_names else (
            [f"MG{i}" for i in range(1, 32)] + ["non-micro-gesture"])
        super().__init__(root, split, frames, transform, val_subjects, cache_dir, on_error,
                         force_reload)

    # -------------------------------------------------------------- layout
    @staticmethod
    def _detect(root: str) -> str:
        if not os.path.isdir(root):
            raise DatasetFormatError(f"iMiGUE root '{root}' does not exist.\n{IMIGUE_LAYOUT}")
        if any(os.path.isdir(os.path.join(root, d)) for d in MIGA_FOLDERS.values()):
            return "miga"
        entries = os.listdir(root)
        if any(os.path.isdir(os.path.join(root, d)) for d in entries if d != "processed"):
            return "openpose_json"
        raise DatasetFormatError(f"iMiGUE root '{root}' holds neither layout.\n{IMIGUE_LAYOUT}")

    def _joint_index(self, skeleton: Skeleton) -> np.ndarray:
        """Indices in ``openpose137`` space of the skeleton's joints."""
        if skeleton.name == "openpose137":
            idx = np.arange(137)
        elif hasattr(skeleton, "subset_indices") and skeleton.num_nodes <= 137 and \
                skeleton.name != "openpose25":
            base = get_skeleton("openpose137")
            idx = np.array([base.joint_names.index(n) for n in skeleton.joint_names])
        else:
            try:
                base = get_skeleton("openpose137")
                idx = np.array([base.joint_names.index(n) for n in skeleton.joint_names])
            except ValueError:
                raise ValueError(f"IMiGUE: skeleton '{skeleton.name}' is not openpose137 or a "
                                 f"subset of it (joint names must be openpose137 names)") \
                    from None
        if self.format == "miga":
            missing = [skeleton.joint_names[k] for k, j in enumerate(idx)
                       if j not in MIGA_POINTS]
            if missing:
                raise ValueError(f"IMiGUE: the MiGA layout has no {missing[:5]} (it holds "
                                 f"BODY_25 and the 10 fingertips); choose e.g. 'miga22'")
        return idx

    def raw_files(self) -> List[str]:
        files = []
        if self.format == "miga":
            for folder in MIGA_FOLDERS.values():
                top = os.path.join(self.root, folder)
                if not os.path.isdir(top):
                    continue
                for video in sorted(os.listdir(top)):
                    for suffix in ("_light_hand.csv", "_label.csv"):
                        p = os.path.join(top, video, video + suffix)
                        if os.path.isfile(p):
                            files.append(p)
            if not files:
                raise DatasetFormatError(f"iMiGUE root '{self.root}' (MiGA layout) holds no "
                                         f"'*_light_hand.csv' file.\n{IMIGUE_LAYOUT}")
            return files
        label_path = os.path.join(self.root, self.label_file)
        if not os.path.isfile(label_path):
            raise DatasetFormatError(f"iMiGUE clip table '{label_path}' does not exist.\n"
                                     f"{IMIGUE_LAYOUT}")
        files.append(label_path)
        for video in sorted(os.listdir(self.root)):
            folder = os.path.join(self.root, video)
            if os.path.isdir(folder) and video != "processed":
                files += [os.path.join(folder, f) for f in sorted(os.listdir(folder))
                          if f.endswith(".json")]
        return files

    def processing_options(self) -> Dict[str, Any]:
        return {"format": self.format, "joints": self.joint_index.tolist(),
                "columns": self.columns, "label_file": self.label_file,
                "test_subjects": self.test_subjects, "missing": self.missing,
                "label_frame_offset": self.label_frame_offset, "on_error": self.on_error}

    # ------------------------------------------------------------- reading
    def read_raw(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:
        if self.format == "miga":
            yield from self._read_miga()
        else:
            yield from self._read_json()

    def _read_miga(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:
        for split, folder in MIGA_FOLDERS.items():
            top = os.path.join(self.root, folder)
            if not os.path.isdir(top):
                continue
            for video in sorted(os.listdir(top)):
                vdir = os.path.join(top, video)
                data_path = os.path.join(vdir, video + "_light_hand.csv")
                label_path = os.path.join(vdir, video + "_label.csv")
                if not os.path.isdir(vdir):
                    continue
                if not os.path.isfile(data_path):
                    if os.path.isfile(label_path):
                        yield DatasetFormatError(f"{label_path}: the skeleton file "
                                                 f"'{video}_light_hand.csv' is missing")
                    continue
                try:
                    yield self._read_miga_video(split, video, data_path, label_path)
                except DatasetFormatError as e:
                    yield e

    def _read_miga_video(self, split: str, video: str, data_path: str,
                         label_path: str) -> RawRecording:
        n = len(MIGA_POINTS)
        raw = read_numeric_csv(data_path, 1 + 3 * n, f"a frame index and {n} points x 3")
        if raw.shape[0] == 0:
            raise DatasetFormatError(f"{data_path}: no frame")
        frame_ids = raw[:, 0].astype(np.int64)
        if (frame_ids != raw[:, 0]).any():
            k = int(np.argmax(frame_ids != raw[:, 0]))
            raise DatasetFormatError(f"{data_path}, line {k + 1}: the frame index must be an "
                                     f"integer, got {raw[k, 0]}")
        steps = np.diff(frame_ids)
        if (steps <= 0).any():
            k = int(np.argmax(steps <= 0)) + 1
            raise DatasetFormatError(f"{data_path}, line {k + 1}: frame index {frame_ids[k]} "
                                     f"does not follow {frame_ids[k - 1]} (indices must "
                                     f"increase)")
        pts = raw[:, 1:].reshape(-1, n, 3)
        check_finite(pts, data_path)
        full = np.zeros((len(pts), 137, 3), np.float32)
        full[:, list(MIGA_POINTS)] = pts
        data = full[:, self.joint_index]
        segments: List[Segment] = []
        lines: List[int] = []
        if os.path.isfile(label_path):
            rows, lines = read_label_rows(label_path, IMIGUE_NUM_CLASSES, imigue_label)
            order = np.argsort(frame_ids, kind="stable")
            for seg, line in zip(rows, lines):
                a = seg.start + self.label_frame_offset
                b = seg.end + self.label_frame_offset
                if b < a:
                    raise DatasetFormatError(f"{label_path}, line {line}: segment ends (frame "
                                             f"{seg.end}) before it starts (frame {seg.start})")
                lo = np.searchsorted(frame_ids[order], a, side="left")
                hi = np.searchsorted(frame_ids[order], b, side="right") - 1
                if lo > hi or a < frame_ids.min() or b > frame_ids.max():
                    raise DatasetFormatError(
                        f"{label_path}, line {line}: frames {a}..{b} (after the +"
                        f"{self.label_frame_offset} offset) run past the recording, whose frame "
                        f"indices are {frame_ids.min()}..{frame_ids.max()}")
                segments.append(Segment(seg.label, int(order[lo]), int(order[hi])))
        subject = int(video) if video.isdigit() else -1
        return RawRecording(video, subject, split, data[:, None], segments)

    def _read_table(self) -> Dict[str, List[Tuple[int, Segment, int, Optional[str]]]]:
        path = os.path.join(self.root, self.label_file)
        cols = self.columns
        out: Dict[str, List[Tuple[int, Segment, int, Optional[str]]]] = {}
        with open_text(path) as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            need = [cols[k] for k in ("video", "label", "start", "end", "subject")]
            absent = [c for c in need if c not in header]
            if absent:
                raise DatasetFormatError(f"{path}, line 1: missing columns {absent}; the header "
                                         f"is {header} (set `columns` to map your names)")
            for lineno, row in enumerate(reader, start=2):
                try:
                    where = f"{path}, line {lineno}"
                    label = parse_int(row[cols["label"]], where, "the label")
                    start = parse_int(row[cols["start"]], where, "the start frame")
                    end = parse_int(row[cols["end"]], where, "the end frame")
                    subject = parse_int(row[cols["subject"]], where, "the subject")
                except DatasetFormatError:
                    raise
                except (TypeError, ValueError):
                    raise DatasetFormatError(f"{path}, line {lineno}: expected integer label, "
                                             f"start, end and subject, got {dict(row)}") from None
                y = imigue_label(label)
                if y is None:
                    raise DatasetFormatError(f"{path}, line {lineno}: label {label} is not an "
                                             f"iMiGUE class (1-31 or 99)")
                split = row.get(cols["split"]) if cols["split"] in header else None
                if split is not None and split.strip() not in ("train", "test"):
                    raise DatasetFormatError(f"{path}, line {lineno}: split {split!r} is not "
                                             f"'train' or 'test'")
                out.setdefault(str(row[cols["video"]]).strip(), []).append(
                    (lineno, Segment(y, start, end), subject,
                     split.strip() if split else None))
        return out

    def _read_json(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:
        table = self._read_table()
        label_path = os.path.join(self.root, self.label_file)
        has_split = any(r[3] is not None for rows in table.values() for r in rows)
        if not has_split and self.test_subjects is None:
            raise ValueError(f"IMiGUE: '{label_path}' has no '{self.columns['split']}' column; "
                             f"pass test_subjects=[...] (the cross-subject protocol's test "
                             f"subjects)")
        for video, rows in table.items():
            try:
                folder = path_in_root(self.root, video, f"{label_path}, line {rows[0][0]}")
            except DatasetFormatError as e:
                yield e
                continue
            files = sorted(f for f in os.listdir(folder)) if os.path.isdir(folder) else []
            frames = {}
            for fname in files:
                m = _FRAME_RE.search(fname)
                if m:
                    frames[int(m.group(1))] = os.path.join(folder, fname)
            if not frames:
                yield DatasetFormatError(f"{label_path}, line {rows[0][0]}: video '{video}' "
                                         f"has no keypoint file '{video}_<12 digits>_keypoints."
                                         f"json' in '{folder}'")
                continue
            try:
                T = check_frame_indices(frames, folder)
                data = np.zeros((T, 137, 3), np.float32)
                present = np.zeros(T, bool)
                for t, p in frames.items():
                    person = read_openpose_frame(p)
                    if person is not None:
                        data[t], present[t] = person, True
                data = fill_missing(data, present, self.missing)[:, self.joint_index]
                segs = [r[1] for r in rows]
                check_segments(segs, T, IMIGUE_NUM_CLASSES, label_path, [r[0] for r in rows])
                subjects = {r[2] for r in rows}
                if len(subjects) > 1:
                    raise DatasetFormatError(f"{label_path}: video '{video}' is given subjects "
                                             f"{sorted(subjects)}; expected one")
                subject = subjects.pop()
                splits = {r[3] for r in rows}
                if has_split:
                    if len(splits) > 1:
                        raise DatasetFormatError(f"{label_path}: video '{video}' is in "
                                                 f"several splits {sorted(map(str, splits))}")
                    split = splits.pop() or "train"
                else:
                    split = "test" if subject in self.test_subjects else "train"
                yield RawRecording(video, subject, split, data[:, None], segs)
            except DatasetFormatError as e:
                yield e

    def official_splits(self) -> Tuple[str, ...]:
        return tuple(MIGA_FOLDERS) if self.format == "miga" else ("train", "test")


@register_dataset("imigue", description="iMiGUE (OpenPose x, y, confidence; 32 classes)")
def _build(root, split, *, skeleton=None, frames=64, val_subjects=None, **options):
    return IMiGUE(root, split, skeleton=skeleton, frames=frames, val_subjects=val_subjects,
                  **options)
