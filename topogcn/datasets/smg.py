"""SMG, the Spontaneous Micro-Gesture dataset (Kinect v2 skeletons)."""
from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from topogcn.datasets.base import CachedSkeletonDataset, RawRecording
from topogcn.datasets.registry import register_dataset
from topogcn.io.errors import DatasetFormatError
from topogcn.io.segments import Segment, check_segments
from topogcn.io.smg import read_label_rows, read_smg_skeleton
from topogcn.skeleton import get_skeleton

SMG_NUM_CLASSES = 17
SMG_TEST_SUBJECTS = tuple(range(36, 41))

SMG_LAYOUT = """\
Expected layout (one folder per subject):
  ROOT/Sample0001/Sample0001_skeleton.csv    no header, one row per frame,
                                             25 joints x 11 values (x, y, z first)
  ROOT/Sample0001/Sample0001_finelabels.csv  no header, rows 'label,start_frame,end_frame'
  ...
  ROOT/Sample0040/...
SMG is distributed by its authors (University of Oulu, CMVS; see the SMG paper,
IJCV 2023, and the repository mikecheninoulu/SMG for the access form)."""

_SAMPLE_RE = re.compile(r"^Sample(\d+)$")


class SMG(CachedSkeletonDataset):
    r"""The SMG dataset (Chen et al., IJCV 2023): Kinect v2 skeletons
    (25 joints, x/y/z in metres) of 40 subjects telling stories, with 17
    micro-gesture classes labelled by start and end frame.

    Point ``root`` at the folder holding ``Sample0001`` ...
    ``Sample0040``.  The raw files are read once and cached (see
    :class:`~topogcn.datasets.base.CachedSkeletonDataset`).

    * Frames ``start .. end`` of a label row are read **inclusive** (the
      source is ambiguous: the classification script reads ``start .. end-1``
      and the online-recognition code ``start .. end``); clips of a single
      frame are kept, as the reference does.
    * Labels 1-17 become 0-16; class names default to ``MG1`` ... ``MG17``
      (pass ``class_names`` to name them).
    * Split (cross-subject, the classification baselines'): subjects 36-40
      are the test split, 1-35 training; ``val_subjects`` holds out training
      subjects as a validation split.
    * A subject folder without a label file is a recording without segments;
      a label file without its skeleton file is an error.

    Args:
        root (str): The dataset folder.
        split (str): ``"train"``, ``"val"`` or ``"test"``.
        frames (int, optional): Frames per returned clip. (default: 64)
        transform (callable, optional): Applied to ``[1, T, 25, 3]`` clips.
        test_subjects (sequence of int): Test subject ids. (default: 36-40)
        class_names (sequence of str, optional): 17 names.
        val_subjects (int or list, optional): Held-out training subjects.
        cache_dir (str, optional): Cache folder. (default: ``root/processed``)
        on_error (str): ``"raise"`` or ``"skip"`` bad recordings with a
            warning that counts them. (default: ``"raise"``)
        force_reload (bool): Rebuild the cache.
    """

    def __init__(self, root: Union[str, os.PathLike], split: str = "train",
                 frames: Optional[int] = 64, transform=None,
                 test_subjects: Sequence[int] = SMG_TEST_SUBJECTS,
                 class_names: Optional[Sequence[str]] = None,
                 val_subjects: Union[None, int, Sequence[int]] = None,
                 cache_dir: Optional[Union[str, os.PathLike]] = None,
                 on_error: str = "raise", force_reload: bool = False) -> None:
        self.skeleton = get_skeleton("ntu25")
        if class_names is not None and len(class_names) != SMG_NUM_CLASSES:
            raise ValueError(f"SMG: class_names must have {SMG_NUM_CLASSES} names, got "
                             f"{len(class_names)}")
        self.classes = list(class_names) if class_names else [
            f"MG{i}" for i in range(1, SMG_NUM_CLASSES + 1)]
        self.test_subjects = tuple(int(s) for s in test_subjects)
        super().__init__(root, split, frames, transform, val_subjects, cache_dir, on_error,
                         force_reload)

    def _sample_dirs(self) -> List[Tuple[int, str]]:
        if not os.path.isdir(self.root):
            raise DatasetFormatError(f"SMG root '{self.root}' does not exist.\n{SMG_LAYOUT}")
        found = []
        for name in sorted(os.listdir(self.root)):
            m = _SAMPLE_RE.match(name)
            if m and os.path.isdir(os.path.join(self.root, name)):
                twin = next((n for s, n in found if s == int(m.group(1))), None)
                if twin is not None:
                    raise DatasetFormatError(f"SMG root '{self.root}': '{twin}' and '{name}' "
                                             f"are both subject {int(m.group(1))}")
                found.append((int(m.group(1)), name))
        if not found:
            raise DatasetFormatError(
                f"SMG root '{self.root}' holds no 'SampleXXXX' folder.\n{SMG_LAYOUT}")
        return found

    def raw_files(self) -> List[str]:
        files = []
        for _, name in self._sample_dirs():
            for suffix in ("_skeleton.csv", "_finelabels.csv"):
                p = os.path.join(self.root, name, name + suffix)
                if os.path.isfile(p):
                    files.append(p)
        return files

    def processing_options(self) -> Dict[str, Any]:
        return {"test_subjects": list(self.test_subjects), "on_error": self.on_error}

    def read_raw(self) -> Iterator[RawRecording]:
        for subject, name in self._sample_dirs():
            folder = os.path.join(self.root, name)
            skel_path = os.path.join(folder, name + "_skeleton.csv")
            label_path = os.path.join(folder, name + "_finelabels.csv")
            has_labels = os.path.isfile(label_path)
            if not os.path.isfile(skel_path):
                if has_labels:
                    yield DatasetFormatError(
                        f"{label_path}: the skeleton file '{name}_skeleton.csv' of this "
                        f"labelled recording is missing")
                continue
            try:
                yield self.read_recording(subject, name, skel_path,
                                          label_path if has_labels else None)
            except DatasetFormatError as e:
                yield e

    def read_recording(self, subject: int, name: str, skel_path: str,
                       label_path: Optional[str]) -> RawRecording:
        xyz = read_smg_skeleton(skel_path)
        segments: List[Segment] = []
        if label_path:
            segments, lines = read_label_rows(label_path, SMG_NUM_CLASSES)
            check_segments(segments, len(xyz), SMG_NUM_CLASSES, label_path, lines)
        split = "test" if subject in self.test_subjects else "train"
        return RawRecording(name, subject, split, xyz[:, None], segments)


@register_dataset("smg", description="SMG (Kinect v2, 25 joints, 17 classes)")
def _build(root, split, *, skeleton=None, frames=64, val_subjects=None, **options):
    if skeleton and get_skeleton(skeleton).name != "ntu25":
        raise ValueError(f"SMG is recorded on the 25-joint Kinect skeleton (ntu25); "
                         f"data.skeleton={skeleton!r} does not fit it")
    return SMG(root, split, frames=frames, val_subjects=val_subjects, **options)
