"""``SkeletonFolder``: a simple on-disk format for your own skeleton data."""
from __future__ import annotations

import os
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import CachedSkeletonDataset, RawRecording
from topogcn.datasets.registry import register_dataset
from topogcn.io.errors import DatasetFormatError
from topogcn.io.folder import (
    CHANNELS_FILE, CLASSES_FILE, FOLDER_LAYOUT, LABELS_FILE, SKELETON_FILE, read_label_csv,
)
from topogcn.io.limits import MAX_CLASSES
from topogcn.io.segments import Segment
from topogcn.io.sequence import read_sequence
from topogcn.io.text import parse_int, path_in_root, read_names, unique_names
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.transforms import check_channels, default_channels


def read_recording(path: str, num_nodes: int) -> np.ndarray:
    """A recording file of a folder as ``[T, M, V, C]`` (the cache's order)."""
    return read_sequence(path, num_nodes).transpose(1, 0, 2, 3)

class SkeletonFolder(CachedSkeletonDataset):
    r"""Your own skeleton data in a simple documented format, for any
    skeleton (a registry name, a :class:`~topogcn.skeleton.Skeleton` or a
    JSON/YAML skeleton file).

    .. code-block:: text

        ROOT/labels.csv     file,label[,start_frame,end_frame][,subject][,split]
        ROOT/classes.txt    optional, one class name per line
        ROOT/skeleton.json  optional, the skeleton (written by ``topogcn convert``)
        ROOT/channels.txt   optional, one channel name per line (x, y[, z], then others)
        ROOT/rec001.npy     [T, V, C] or [M, T, V, C]   (or .npz, or .csv: a row per frame)

    The folder describes itself: without a ``skeleton`` argument the
    skeleton is ``ROOT/skeleton.json``; a given skeleton that contradicts
    that file (joint count, joint names or bones) is a :class:`ValueError`
    naming both.  ``channels`` (or ``ROOT/channels.txt``) says what each
    channel is: coordinates ``x, y[, z]`` first, then channels such as
    ``confidence`` that the preprocessing never centres, scales, rotates or
    differences.  Without either, 2 channels are ``x, y`` and 3 are
    ``x, y, z``.  The ``file`` column names files inside ``ROOT``: an
    absolute path or one leading out of it (``../``) is refused unless
    ``allow_outside_root=True``.

    ``label`` is a class name (looked up in ``classes.txt``; without it the
    sorted names of the table are the classes) or a 0-based index.
    ``start_frame``/``end_frame`` (inclusive) cut clips out of a recording;
    empty or absent, the whole file is the clip.  Splits, in this order of
    preference: the ``split`` column (``train``/``val``/``test``), the
    ``test_subjects`` / ``val_subjects`` lists, or a seeded random split by
    subject (``test_fraction`` of the subjects; a file without ``subject`` is
    its own subject).

    Same contract as the other datasets: ``(x, y)`` with ``x``
    ``[M, T, V, C]``, ``classes``, ``skeleton``, cached processing.
    """

    def __init__(self, root: Union[str, os.PathLike],
                 skeleton: Union[None, str, Skeleton] = None, split: str = "train",
                 frames: Optional[int] = 64, transform=None,
                 label_file: str = LABELS_FILE, test_subjects: Optional[Sequence] = None,
                 val_subjects: Union[None, int, Sequence] = None, test_fraction: float = 0.2,
                 seed: int = 0, cache_dir: Optional[Union[str, os.PathLike]] = None,
                 on_error: str = "raise", force_reload: bool = False,
                 channels: Optional[Sequence[str]] = None,
                 allow_outside_root: bool = False) -> None:
        self.root = os.fspath(root)
        self.allow_outside_root = allow_outside_root
        if not os.path.isdir(self.root):
            raise DatasetFormatError(f"Folder '{self.root}' does not exist.\n{FOLDER_LAYOUT}")
        self.skeleton = self._resolve_skeleton(skeleton)
        self.label_file = label_file
        self.test_subjects = None if test_subjects is None else [str(s) for s in test_subjects]
        self.test_fraction, self.seed = test_fraction, seed
        self._table = self._read_table()
        self.classes = self._classes()
        self._has_split_column = any(r["split"] for r in self._table)
        super().__init__(root, split, frames, transform, val_subjects, cache_dir, on_error,
                         force_reload)
        self.channels = self._resolve_channels(channels)

    # ------------------------------------------------------- self-description
    def _resolve_skeleton(self, skeleton: Union[None, str, Skeleton]) -> Skeleton:
        path = os.path.join(self.root, SKELETON_FILE)
        saved = Skeleton.from_file(path) if os.path.isfile(path) else None
        if skeleton is None:
            if saved is None:
                raise DatasetFormatError(
                    f"'{self.root}' has no {SKELETON_FILE}: name the skeleton (data.skeleton: a "
                    f"registry name or a JSON/YAML skeleton file), or write "
                    f"{path}\n{FOLDER_LAYOUT}")
            return saved
        given = get_skeleton(skeleton)
        if saved is not None:
            problems = given.differences(saved)
            if problems:
                raise ValueError(
                    f"skeleton '{given.name}' contradicts the folder's {path} (skeleton "
                    f"'{saved.name}'): {'; '.join(problems)}.  Leave the skeleton unset "
                    f"(data.skeleton) to use the folder's own")
        return given

    def _resolve_channels(self, channels: Optional[Sequence[str]]) -> Tuple[str, ...]:
        path = os.path.join(self.root, CHANNELS_FILE)
        saved = None
        if os.path.isfile(path):
            saved = tuple(read_names(path))
        C = self.num_channels
        source = path if channels is None and saved is not None else "channels"
        if channels is not None and saved is not None and tuple(channels) != saved:
            raise ValueError(f"channels {list(channels)} contradict the folder's {path} "
                             f"({list(saved)})")
        try:
            names = check_channels(channels or saved or default_channels(C), source)
        except ValueError as e:
            raise DatasetFormatError(f"{e}; write one name per line into {path}") from None
        if len(names) != C:
            raise DatasetFormatError(f"{source}: {len(names)} channel names "
                                     f"({', '.join(names)}) for data with {C} channels")
        return names

    # ------------------------------------------------------------- table
    def _read_table(self) -> List[Dict[str, Any]]:
        path = os.path.join(self.root, self.label_file)
        if not os.path.isfile(path):
            raise DatasetFormatError(f"Label table '{path}' does not exist.\n{FOLDER_LAYOUT}")
        rows = []
        for lineno, row in read_label_csv(path):
            if not row.get("file"):
                continue
            where = f"{path}, line {lineno}"
            start = parse_int(row["start_frame"], where, "start_frame") \
                if row.get("start_frame") else None
            end = parse_int(row["end_frame"], where, "end_frame") if row.get("end_frame") else None
            split = row.get("split", "")
            if split and split not in ("train", "val", "test"):
                raise DatasetFormatError(f"{path}, line {lineno}: split {split!r} is not "
                                         f"train, val or test")
            if not self.allow_outside_root:
                path_in_root(self.root, row["file"], f"{path}, line {lineno}")
            rows.append({"line": lineno, "file": row["file"], "label": row["label"],
                         "start": start, "end": end, "split": split,
                         "subject": row.get("subject") or row["file"]})
        if not rows:
            raise DatasetFormatError(f"{path}: the label table has no row")
        return rows

    def _classes(self) -> List[str]:
        path = os.path.join(self.root, CLASSES_FILE)
        if os.path.isfile(path):
            names = unique_names(read_names(path), path)
            if len(names) > MAX_CLASSES:
                raise DatasetFormatError(f"{path}: {len(names)} class names, more than the "
                                         f"limit of {MAX_CLASSES}")
            return names
        labels = {r["label"] for r in self._table}
        if all(label.isdigit() for label in labels):
            top = max(int(x) for x in labels)
            if top >= MAX_CLASSES:
                row = next(r for r in self._table
                           if r["label"].isdigit() and int(r["label"]) == top)
                raise DatasetFormatError(
                    f"{os.path.join(self.root, self.label_file)}, line {row['line']}: label "
                    f"{top} would make {top + 1} classes (numeric labels without classes.txt "
                    f"are indices 0..K-1), more than the limit of {MAX_CLASSES}; write the "
                    f"class names into {os.path.join(self.root, CLASSES_FILE)}")
            return [str(i) for i in range(top + 1)]
        return sorted(labels)

    def _label_index(self, row: Dict[str, Any], table: str) -> int:
        label = row["label"]
        if label in self.classes:
            return self.classes.index(label)
        if label.isdigit() and int(label) < len(self.classes):
            return int(label)
        raise DatasetFormatError(f"{table}, line {row['line']}: unknown label {label!r}; "
                                 f"classes: {', '.join(self.classes)}")

    def _split_of(self) -> Dict[str, str]:
        """Subject -> split."""
        subjects = sorted({r["subject"] for r in self._table})
        if self._has_split_column:
            return {}
        if self.test_subjects is not None:
            return {s: "test" if s in self.test_subjects else "train" for s in subjects}
        rng = np.random.default_rng(self.seed)
        order = list(rng.permutation(subjects))
        n_test = max(1, int(round(self.test_fraction * len(subjects)))) if len(subjects) > 1 \
            else 0
        test = set(order[:n_test])
        return {s: "test" if s in test else "train" for s in subjects}

    # ------------------------------------------------------- cache hooks
    def official_splits(self) -> Tuple[str, ...]:
        return ("train", "val", "test")

    def raw_files(self) -> List[str]:
        files = [os.path.join(self.root, self.label_file)]
        classes = os.path.join(self.root, CLASSES_FILE)
        if os.path.isfile(classes):
            files.append(classes)
        files += sorted({os.path.join(self.root, r["file"]) for r in self._table
                         if os.path.isfile(os.path.join(self.root, r["file"]))})
        return files

    def processing_options(self) -> Dict[str, Any]:
        return {"skeleton": self.skeleton.to_dict(), "test_subjects": self.test_subjects,
                "test_fraction": self.test_fraction, "seed": self.seed,
                "label_file": self.label_file, "on_error": self.on_error}

    def read_raw(self) -> Iterator[Any]:
        table = os.path.join(self.root, self.label_file)
        split_of = self._split_of()
        by_file: Dict[str, List[Dict[str, Any]]] = {}
        for r in self._table:
            by_file.setdefault(r["file"], []).append(r)
        channels = None
        for file, rows in by_file.items():
            path = os.path.join(self.root, file)
            try:
                if not os.path.isfile(path):
                    raise DatasetFormatError(f"{table}, line {rows[0]['line']}: file '{file}' "
                                             f"does not exist in '{self.root}'")
                data = read_recording(path, self.skeleton.num_nodes)
                if channels is None:
                    channels = data.shape[3]
                elif data.shape[3] != channels:
                    raise DatasetFormatError(f"{path}: {data.shape[3]} channels per joint, but "
                                             f"the files before it have {channels}")
                T = data.shape[0]
                segments = []
                for r in rows:
                    start = 0 if r["start"] is None else r["start"]
                    end = T - 1 if r["end"] is None else r["end"]
                    if end < start or start < 0 or end >= T:
                        raise DatasetFormatError(
                            f"{table}, line {r['line']}: frames {start}..{end} out of range for "
                            f"'{file}', which has {T} frames (0..{T - 1})")
                    segments.append(Segment(self._label_index(r, table), start, end))
                subjects = {r["subject"] for r in rows}
                splits = {r["split"] for r in rows} if self._has_split_column else \
                    {split_of[r["subject"]] for r in rows}
                if len(splits) > 1 or len(subjects) > 1:
                    raise DatasetFormatError(f"{table}: the rows of '{file}' name several "
                                             f"subjects or splits ({sorted(subjects)}, "
                                             f"{sorted(splits)})")
                subject = subjects.pop()
                sid = int(subject) if subject.isdigit() else zlib.crc32(subject.encode()) % 10 ** 8
                yield RawRecording(file, sid, splits.pop() or "train", data, segments)
            except DatasetFormatError as e:
                yield e


@register_dataset("folder", description="SkeletonFolder: your own data (labels.csv + files)")
def _build(root, split, *, skeleton=None, frames=64, val_subjects=None, **options):
    return SkeletonFolder(root, skeleton, split, frames=frames, val_subjects=val_subjects,
                          **options)
