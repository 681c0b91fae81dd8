"""Converters: write skeleton data of any source in the SkeletonFolder
format (:mod:`topogcn.io.folder`), which :class:`~topogcn.datasets.SkeletonFolder`
reads and ``topogcn train --set data.name=folder`` trains on.

Every converter is registered in :data:`CONVERTERS` under its ``topogcn
convert --from`` name and is called with keywords: ``root`` and ``out``,
then the options it takes (``labels``, ``skeleton``, ``max_persons``,
``joints``, ``missing``, ...; the command line passes those given).  It
writes into a temporary folder beside ``out`` and renames it at the end:
``out`` holds either the complete output or nothing.  Other packages add
converters through the entry-point group ``topogcn.converters``.
"""
from __future__ import annotations

import csv
import inspect
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import SkeletonDataset
from topogcn.datasets.imigue import IMiGUE
from topogcn.datasets.pyskl import PysklPickle
from topogcn.datasets.smg import SMG
from topogcn.io.coco import read_coco_keypoints
from topogcn.io.errors import DatasetFormatError
from topogcn.io.folder import CLASSES_FILE, read_label_table, write_folder
from topogcn.io.limits import MAX_PERSONS
from topogcn.io.mediapipe import mediapipe_columns, read_mediapipe_csv
from topogcn.io.ntu import BENCHMARKS, NTU_ACTIONS, ntu_files, ntu_split, read_ntu_skeleton
from topogcn.io.openpose import find_openpose_recordings, read_openpose_recording
from topogcn.io.text import open_text, parse_int, read_names, unique_names
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.utils.registry import Registry

#: converters by their ``--from`` name: ``convert(root=..., out=..., **options) -> out``
CONVERTERS: Registry[Callable[..., str]] = Registry("converter", "topogcn.converters")


def converter_options(name: str) -> List[str]:
    """The options (keyword arguments besides ``root`` and ``out``) the
    converter ``name`` takes."""
    params = inspect.signature(CONVERTERS.get(name)).parameters
    return [p for p in params if p not in ("root", "out")]


def run_converter(name: str, root: str, out: str, **options: Any) -> str:
    """Run the converter ``name``; ``options`` it does not take, or a
    required one missing, are a :class:`ValueError` naming them."""
    fn = CONVERTERS.get(name)
    params = inspect.signature(fn).parameters
    takes = converter_options(name)
    extra = sorted(k for k in options if k not in takes)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        known = ", ".join("--" + k.replace("_", "-") for k in takes) or "none"
        raise ValueError(f"--from {name} does not take {flags} (its options: {known})")
    missing = [p for p in takes if params[p].default is inspect.Parameter.empty
               and p not in options]
    if missing:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        raise ValueError(f"--from {name} needs {flags}")
    return fn(root=root, out=out, **options)


def check_max_persons(max_persons: int) -> None:
    """Refuse a person count outside ``1 .. MAX_PERSONS`` before anything is
    allocated for it."""
    if isinstance(max_persons, bool) or not isinstance(max_persons, int) or \
            not 1 <= max_persons <= MAX_PERSONS:
        raise ValueError(f"max_persons must be between 1 and {MAX_PERSONS}, got "
                         f"{max_persons!r}")


def _subset(skeleton: Skeleton, joints: Optional[Sequence]) -> Tuple[Skeleton, Optional[list]]:
    if not joints:
        return skeleton, None
    sub = skeleton.subset(joints, name=f"{skeleton.name}_subset")
    return sub, list(sub.subset_indices)


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
    return write_folder(out, skeleton, recordings(), rows, list(splits[0].classes),
                         splits[0].channels)


def _official_splits(reader, root: str) -> List[SkeletonDataset]:
    first = reader(root, split="train", frames=None)
    return [first] + [reader(root, split=s, frames=None)
                      for s in first.official_splits() if s != "train"]


def convert_smg(root: str, out: str, joints: Optional[Sequence] = None) -> str:
    """SMG (:class:`~topogcn.datasets.SMG`) with its official splits."""
    return export_folder(_official_splits(SMG, root), out, joints)


def convert_imigue(root: str, out: str, joints: Optional[Sequence] = None) -> str:
    """iMiGUE (:class:`~topogcn.datasets.IMiGUE`, either release) with its splits."""
    return export_folder(_official_splits(IMiGUE, root), out, joints)


def convert_pyskl(root: str, out: str, joints: Optional[Sequence] = None,
                  train_split: Optional[str] = None, test_split: Optional[str] = None,
                  skeleton: Optional[str] = None) -> str:
    """A PYSKL / MMAction2 annotation pickle (``root`` is the ``.pkl``;
    :class:`~topogcn.datasets.PysklPickle`): its training and test splits."""
    kw = dict(train_split=train_split, test_split=test_split, skeleton=skeleton)
    splits = [PysklPickle(root, split=s, frames=None, **kw) for s in ("train", "test")]
    return export_folder(splits, out, joints, split_prefix=False)


def convert_ntu(root: str, out: str, benchmark: str = "xsub",
                missing_list: Optional[str] = None, max_persons: int = 2,
                joints: Optional[Sequence] = None) -> str:
    """Convert NTU RGB+D ``.skeleton`` files under ``root`` to a
    :class:`~topogcn.datasets.SkeletonFolder` in ``out``: one
    ``<SsssCcccPpppRrrrAaaa>.npy`` ``[M, T, 25, 3]`` per file (bodies as
    :func:`~topogcn.io.read_ntu_skeleton` keeps them: the
    ``max_persons`` seen in most frames), the class its action (names of
    :data:`NTU_ACTIONS`), the subject its performer, the split that of
    ``benchmark`` (``xsub``, ``xview``: NTU-60; ``xsub120``, ``xset120``:
    NTU-120).  ``joints`` keeps a subset of the skeleton."""
    check_max_persons(max_persons)
    skeleton, index = _subset(get_skeleton("ntu25"), joints)
    classes = list(NTU_ACTIONS[:BENCHMARKS.get(benchmark, 0)])
    rows: List[List] = []

    def recordings():
        for stem, path, info in ntu_files(root, benchmark, missing_list):
            data = read_ntu_skeleton(path, max_persons)
            fname = f"{stem}.npy"
            rows.append([fname, classes[info["action"] - 1], 0, data.shape[1] - 1,
                         info["performer"], ntu_split(info, benchmark)])
            yield fname, data if index is None else data[:, :, index]

    return write_folder(out, skeleton, recordings(), rows, classes, ("x", "y", "z"))


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
    classes_file = os.path.join(os.path.dirname(os.path.abspath(labels)), CLASSES_FILE)
    if os.path.isfile(classes_file):
        classes = unique_names(read_names(classes_file), classes_file)
    data = ((f"{n}.npy", recordings[n] if index is None else recordings[n][:, :, index])
            for n in sorted(used))
    return write_folder(out, skeleton, data, rows, classes, channels)


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
    check_max_persons(max_persons)
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


def convert_coco_json(root: str, labels: str, out: str, max_persons: int = 1,
                      joints: Optional[Sequence] = None, missing: str = "zeros") -> str:
    """Convert COCO-17 keypoint JSON files (one per recording, see
    :func:`read_coco_keypoints`) in ``root`` to a :class:`SkeletonFolder`
    on the ``coco17`` skeleton with channels ``x, y, confidence``.
    ``labels``' ``file`` column names the JSON files (with or without
    ``.json``); other arguments as :func:`convert_openpose_json`."""
    check_max_persons(max_persons)
    recordings = {name: read_coco_keypoints(path, max_persons, missing) for name, path in
                  _labelled_files(root, labels, ".json", "COCO keypoints folder", missing)}
    return _convert(recordings, labels, out, get_skeleton("coco17"), joints, "COCO keypoints",
                    ("x", "y", "confidence"))


CONVERTERS.add("smg", convert_smg, description="SMG (Kinect v2 CSV files)")
CONVERTERS.add("imigue", convert_imigue, description="iMiGUE (OpenPose JSON or MiGA CSV)")
CONVERTERS.add("pyskl", convert_pyskl, description="PYSKL / MMAction2 annotation pickle")
CONVERTERS.add("ntu", convert_ntu, description="NTU RGB+D .skeleton files")
CONVERTERS.add("openpose-json", convert_openpose_json,
               description="OpenPose --write_json output and a label table")
CONVERTERS.add("mediapipe-csv", convert_mediapipe_csv,
               description="MediaPipe Pose/Hands/Holistic CSVs and a label table")
CONVERTERS.add("coco-json", convert_coco_json,
               description="COCO-17 / mmpose keypoint JSONs and a label table")

__all__ = ["CONVERTERS", "run_converter", "converter_options", "export_folder",
           "convert_smg", "convert_imigue", "convert_pyskl", "convert_ntu",
           "convert_openpose_json", "convert_mediapipe_csv", "convert_coco_json"]
