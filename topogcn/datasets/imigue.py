"""iMiGUE, micro-gestures of post-match press conferences (OpenPose keypoints)."""
from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import CachedSkeletonDataset, RawRecording
from topogcn.datasets.registry import register_dataset
from topogcn.io.errors import DatasetFormatError
from topogcn.io.frames import fill_missing
from topogcn.io.imigue import (
    DEFAULT_COLUMNS, IMIGUE_NUM_CLASSES, MIGA_POINTS, ClipRow, imigue_label, read_clip_table,
    read_miga_light_hand,
)
from topogcn.io.limits import check_frame_indices
from topogcn.io.openpose import read_openpose_frame
from topogcn.io.segments import Segment, check_segments
from topogcn.io.smg import read_label_rows
from topogcn.io.text import path_in_root
from topogcn.skeleton import Skeleton, get_skeleton

MIGA_FOLDERS = {"train": "imigue_skeleton_train", "val": "imigue_skeleton_validate",
                "test": "imigue_skeleton_test"}
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
        frame_ids, pts = read_miga_light_hand(data_path)
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

    def _read_json(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:
        table: Dict[str, List[ClipRow]] = read_clip_table(
            os.path.join(self.root, self.label_file), self.columns)
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
