"""Write skeleton data in the :class:`~topogcn.datasets.SkeletonFolder` format.

* :func:`export_folder`: any topogcn dataset (SMG, iMiGUE, synthetic, ...);
* :func:`convert_openpose_json`: OpenPose's per-frame JSON output;
* :func:`convert_mediapipe_csv`: MediaPipe Pose, Hands or Holistic
  landmarks, one CSV per recording (named or numbered columns);
* :func:`convert_coco_json`: COCO-17 keypoints with scores (COCO results,
  mmpose predictions), one JSON per recording.

Every converter writes into a temporary folder beside ``out`` and renames it
at the end: ``out`` holds either the complete output or nothing.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

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
                  joints: Optional[Sequence] = None, split_prefix: bool = True) -> str:
    """Write the whole recordings of ``splits`` (datasets of one source, e.g.
    its train and test splits) to ``out``: one ``.npy`` ``[M, T, V, C]`` per
    recording, named ``<split>_<recording>.npy`` (``<recording>.npy``
    without ``split_prefix``, for sources whose names are unique across
    splits), ``labels.csv`` (``file, label, start_frame, end_frame,
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
                fname = f"{ds.split}_{rec.name}.npy" if split_prefix else f"{rec.name}.npy"
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
#: MediaPipe landmark sets a CSV may hold, by the registered skeleton name
MEDIAPIPE_SKELETONS = ("mediapipe_holistic75", "mediapipe33", "mediapipe_hand21")
_NUMBERED = re.compile(r"^([xyz])_?(\d+)$")


def _header_columns(header: Sequence[str], path: str) -> Dict[str, int]:
    """Lower-cased column name -> index; a name given twice is an error."""
    col: Dict[str, int] = {}
    for i, h in enumerate(header):
        key = h.strip().lower()
        if key in col and key:
            raise DatasetFormatError(f"{path}, line 1: column '{h.strip()}' appears twice "
                                     f"(columns {col[key] + 1} and {i + 1})")
        col[key] = i
    return col


def mediapipe_columns(header: Sequence[str], path: str,
                      skeleton: Optional[str] = None) -> Tuple[str, List[int]]:
    """The landmark set of a MediaPipe CSV header and the column of every
    joint's x, y, z (joint-major).  Two layouts are read:

    * named: ``<landmark>_x, <landmark>_y, <landmark>_z`` with MediaPipe's
      landmark names (``nose``, ``left_eye_inner``, ... for Pose; ``wrist``,
      ``thumb_cmc``, ... for Hands; Pose names then ``left_hand_<name>``,
      ``right_hand_<name>`` for Holistic); case does not matter;
    * numbered: ``x0, y0, z0, v0, x1, ...`` (or ``x_0``, ...), the joints in
      MediaPipe's order; 33 joints are Pose, 21 Hands, 75 Holistic.

    Other columns (``frame``, visibility, presence) are ignored.
    ``skeleton`` (one of :data:`MEDIAPIPE_SKELETONS`) skips the guess."""
    col = _header_columns(header, path)
    candidates = [skeleton] if skeleton else list(MEDIAPIPE_SKELETONS)
    for name in candidates:
        if name not in MEDIAPIPE_SKELETONS:
            raise ValueError(f"skeleton must be one of {', '.join(MEDIAPIPE_SKELETONS)}, got "
                             f"{name!r}")
        keys = [f"{j.lower()}_{a}" for j in get_skeleton(name).joint_names for a in "xyz"]
        if all(k in col for k in keys):
            return name, [col[k] for k in keys]
    numbered = {}
    for key, i in col.items():
        m = _NUMBERED.match(key)
        if m:
            numbered[(int(m.group(2)), m.group(1))] = i
    if numbered:
        n = 1 + max(j for j, _ in numbered)
        missing = [f"{a}{j}" for j in range(n) for a in "xyz" if (j, a) not in numbered]
        if missing:
            raise DatasetFormatError(f"{path}, line 1: numbered columns for {n} joints but "
                                     f"no column {', '.join(missing[:3])}"
                                     + (" ..." if len(missing) > 3 else ""))
        by_count = {get_skeleton(s).num_nodes: s for s in candidates}
        if n not in by_count:
            raise DatasetFormatError(
                f"{path}, line 1: numbered columns for {n} joints; MediaPipe "
                + ("Pose has 33, Hands 21, Holistic (without the face mesh) 75" if not skeleton
                   else f"{skeleton} has {get_skeleton(skeleton).num_nodes}"))
        return by_count[n], [numbered[(j, a)] for j in range(n) for a in "xyz"]
    best = max(candidates, key=lambda n: sum(
        f"{j.lower()}_{a}" in col for j in get_skeleton(n).joint_names for a in "xyz"))
    keys = [f"{j.lower()}_{a}" for j in get_skeleton(best).joint_names for a in "xyz"]
    if any(k in col for k in keys):
        gap = next(k for k in keys if k not in col)
        raise DatasetFormatError(f"{path}, line 1: missing column '{gap}' (expected x, y, z "
                                 f"columns of the {len(keys) // 3} landmarks of {best})")
    want = skeleton or "Pose, Hands or Holistic"
    raise DatasetFormatError(f"{path}, line 1: not a MediaPipe {want} header: expected "
                             f"'<landmark>_x,<landmark>_y,<landmark>_z' columns (e.g. nose_x, "
                             f"wrist_x) or numbered 'x0,y0,z0,...' columns")


def read_mediapipe_csv(path: str, joint_names: Optional[Sequence[str]] = None,
                       missing: str = "zeros", skeleton: Optional[str] = None) -> np.ndarray:
    """One recording of MediaPipe landmarks as ``[1, T, V, 3]`` (x, y, z):
    Pose (33), Hands (21) or Holistic without the face mesh (75), in either
    layout of :func:`mediapipe_columns`.  The landmark set is read from the
    header unless ``skeleton`` is given (``joint_names``: the named layout's
    joints, for custom sets).  A row whose cells are empty (nobody detected)
    is a missing frame."""
    with open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DatasetFormatError(f"{path}: empty file (expected a header with "
                                     f"'<landmark>_x,<landmark>_y,<landmark>_z' or "
                                     f"'x0,y0,z0,...' columns)")
        if joint_names is not None:
            col = _header_columns(header, path)
            index = []
            for name in joint_names:
                for axis in ("x", "y", "z"):
                    key = f"{name.lower()}_{axis}"
                    if key not in col:
                        raise DatasetFormatError(f"{path}, line 1: missing column '{key}' "
                                                 f"(expected x, y, z columns of the "
                                                 f"{len(joint_names)} MediaPipe landmarks)")
                    index.append(col[key])
            num_joints = len(joint_names)
        else:
            name, index = mediapipe_columns(header, path, skeleton)
            num_joints = len(index) // 3
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
    data = np.stack(frames).reshape(len(frames), num_joints, 3)
    return fill_missing(data, np.array(present), missing)[None]


def _labelled_files(root: str, labels: str, ext: str, what: str,
                    missing: str) -> List[Tuple[str, str]]:
    """``(name, path)`` of the files ``*<ext>`` in ``root`` that the label
    table names (with or without the extension), after checking the
    arguments every one-file-per-recording converter takes."""
    if missing not in ("zeros", "interpolate"):
        raise ValueError(f"missing must be 'zeros' or 'interpolate', got {missing!r}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{what} '{root}' does not exist (expected one {ext} file "
                                f"per recording)")
    needed = {os.path.splitext(r["file"])[0] for r in read_label_table(labels)}
    out = []
    for fname in sorted(os.listdir(root)):
        name, e = os.path.splitext(fname)
        if e.lower() == ext and name in needed:
            out.append((name, os.path.join(root, fname)))
    return out


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def convert_mediapipe_csv(root: str, labels: str, out: str,
                          joints: Optional[Sequence] = None, missing: str = "zeros",
                          skeleton: Optional[str] = None) -> str:
    """Convert MediaPipe landmark CSVs (one per recording, see
    :func:`read_mediapipe_csv`: Pose, Hands or Holistic, named or numbered
    columns) in ``root`` to a :class:`SkeletonFolder` on the matching
    skeleton (``mediapipe33``, ``mediapipe_hand21``,
    ``mediapipe_holistic75``; read from the first file's header unless
    ``skeleton`` is given; every file must hold the same set).
    ``labels``' ``file`` column names the CSV files (with or without
    ``.csv``); other arguments as :func:`convert_openpose_json`."""
    recordings = {}
    for name, path in _labelled_files(root, labels, ".csv", "MediaPipe folder", missing):
        if skeleton is None:
            with open_text(path) as f:
                header = next(csv.reader(f), None) or []
            skeleton = mediapipe_columns(header, path)[0]
        recordings[name] = read_mediapipe_csv(path, missing=missing, skeleton=skeleton)
    skel = get_skeleton(skeleton or "mediapipe33")
    return _convert(recordings, labels, out, skel, joints, "MediaPipe", ("x", "y", "z"))


# ------------------------------------------------------------- COCO / mmpose
def _coco_instance(inst: Any, where: str) -> Tuple[np.ndarray, float]:
    """``[17, 3]`` (x, y, score) and the person's score, from one instance:
    mmpose's ``{"keypoints": [[x, y], ...], "keypoint_scores": [...]}`` or
    COCO's ``{"keypoints": [x1, y1, v1, ...], "score": s}``."""
    if not isinstance(inst, dict) or "keypoints" not in inst:
        raise DatasetFormatError(f"{where}: an instance without 'keypoints'")
    try:
        kp = np.asarray(inst["keypoints"], dtype=np.float64)
        if kp.ndim == 2 and kp.shape == (17, 2):  # mmpose: scores apart
            scores = np.asarray(inst.get("keypoint_scores", np.ones(17)), dtype=np.float64)
            kp = np.concatenate([kp, scores.reshape(17, 1)], axis=1)
        elif kp.ndim == 2 and kp.shape == (17, 3):
            pass
        elif kp.ndim == 1 and kp.size == 51:  # COCO: x, y, v triples
            kp = kp.reshape(17, 3).copy()
            if "keypoint_scores" in inst:
                kp[:, 2] = np.asarray(inst["keypoint_scores"], dtype=np.float64).reshape(17)
            elif kp[:, 2].max() > 1:  # COCO visibility flags 0/1/2: visible or not
                kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
        else:
            raise DatasetFormatError(f"{where}: 'keypoints' of shape {list(kp.shape)}; "
                                     f"expected the 17 COCO keypoints ([17, 2] with "
                                     f"'keypoint_scores', [17, 3] or 51 values)")
    except (TypeError, ValueError) as e:
        if isinstance(e, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{where}: keypoints are not numbers: {e}") from None
    if not np.isfinite(kp).all():
        raise DatasetFormatError(f"{where}: NaN or infinite keypoints")
    score = inst.get("score", inst.get("bbox_score", kp[:, 2].mean()))
    if isinstance(score, list):
        score = score[0] if score else 0.0
    return kp.astype(np.float32), float(score)


def read_coco_keypoints(path: str, max_persons: int = 1, missing: str = "zeros") -> np.ndarray:
    """One recording of COCO-17 keypoints with scores as ``[M, T, 17, 3]``
    (x, y, score), from a JSON file in one of these layouts:

    * mmpose's saved predictions: ``{"instance_info": [{"frame_id": t,
      "instances": [{"keypoints": [[x, y] x 17], "keypoint_scores": [...]}]}]}``
      (or the list of those frames);
    * COCO keypoint results: ``[{"image_id": i, "keypoints": [x, y, s, ...],
      "score": s}, ...]``;
    * a COCO annotation file: ``{"images": [...], "annotations":
      [{"image_id": i, "keypoints": [x, y, v, ...]}]}`` (visibility flags
      become 1 for labelled, 0 for not).

    Frames are ``frame_id`` (mmpose) or the rank of ``image_id`` among the
    file's image ids; frames without a person are zeros (or interpolated).
    Persons are sorted by score, the best ``max_persons`` kept."""
    import json

    with open_text(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise DatasetFormatError(f"{path}: not valid JSON: {e}") from None
    by_frame: Dict[int, List[Tuple[np.ndarray, float]]] = {}
    if isinstance(doc, dict) and "instance_info" in doc:
        doc = doc["instance_info"]
    if isinstance(doc, dict) and "annotations" in doc:
        items = [(a.get("image_id"), a) for a in doc["annotations"]]
        ids = sorted({img["id"] for img in doc.get("images", [])} | {i for i, _ in items})
        rank = {i: k for k, i in enumerate(ids)}
        for n, (i, a) in enumerate(items):
            by_frame.setdefault(rank[i], []).append(_coco_instance(a, f"{path}, annotation {n}"))
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "instances" in doc[0]:
        for n, fr in enumerate(doc):
            t = fr.get("frame_id", n)
            if isinstance(t, bool) or not isinstance(t, int) or t < 0:
                raise DatasetFormatError(f"{path}, frame entry {n}: frame_id {t!r} is not a "
                                         f"frame number")
            by_frame.setdefault(t, []).extend(
                _coco_instance(inst, f"{path}, frame {t}") for inst in fr["instances"] or [])
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "image_id" in doc[0]:
        ids = sorted({d.get("image_id") for d in doc})
        rank = {i: k for k, i in enumerate(ids)}
        for n, d in enumerate(doc):
            by_frame.setdefault(rank[d.get("image_id")], []).append(
                _coco_instance(d, f"{path}, result {n}"))
    else:
        raise DatasetFormatError(f"{path}: not COCO or mmpose keypoints (expected mmpose's "
                                 f"'instance_info', a list of COCO results with 'image_id' "
                                 f"and 'keypoints', or a COCO file with 'annotations')")
    if not by_frame or not any(by_frame.values()):
        raise DatasetFormatError(f"{path}: no person in any frame")
    frames = {t: path for t in by_frame}
    T = check_frame_indices(frames, path)
    data = np.zeros((max_persons, T, 17, 3), np.float32)
    present = np.zeros((max_persons, T), bool)
    for t, people in by_frame.items():
        people = sorted(people, key=lambda p: -p[1])[:max_persons]
        for m, (kp, _) in enumerate(people):
            data[m, t], present[m, t] = kp, True
    for m in range(max_persons):
        data[m] = fill_missing(data[m], present[m], missing)
    return data


def convert_coco_json(root: str, labels: str, out: str, max_persons: int = 1,
                      joints: Optional[Sequence] = None, missing: str = "zeros") -> str:
    """Convert COCO-17 keypoint JSON files (one per recording, see
    :func:`read_coco_keypoints`) in ``root`` to a :class:`SkeletonFolder`
    on the ``coco17`` skeleton with channels ``x, y, confidence``.
    ``labels``' ``file`` column names the JSON files (with or without
    ``.json``); other arguments as :func:`convert_openpose_json`."""
    recordings = {name: read_coco_keypoints(path, max_persons, missing) for name, path in
                  _labelled_files(root, labels, ".json", "COCO keypoints folder", missing)}
    return _convert(recordings, labels, out, get_skeleton("coco17"), joints, "COCO keypoints",
                    ("x", "y", "confidence"))


__all__ = ["export_folder", "convert_coco_json", "read_coco_keypoints", "convert_openpose_json",
           "convert_mediapipe_csv", "read_label_table", "read_mediapipe_csv", "mediapipe_columns",
           "MEDIAPIPE_SKELETONS", "find_openpose_recordings", "read_openpose_recording"]
