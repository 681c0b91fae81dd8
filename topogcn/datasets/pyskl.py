"""``PysklPickle``: the skeleton annotation pickles of PYSKL and MMAction2
(NTU RGB+D 60/120, Kinetics-skeleton, FineGYM, ... as those projects
release them), read without running any code from the file."""
from __future__ import annotations

import os
import re
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from topogcn.datasets.base import CachedSkeletonDataset, RawRecording
from topogcn.datasets.registry import register_dataset
from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_CLASSES, check_finite, check_sequence_size
from topogcn.io.pyskl import read_skeleton_pickle
from topogcn.io.segments import Segment
from topogcn.skeleton import Skeleton, get_skeleton

#: skeleton by joint count when none is given
_SKELETONS = {25: "ntu25", 17: "coco17"}
_NTU_SUBJECT = re.compile(r"P(\d{3})")


class PysklPickle(CachedSkeletonDataset):
    r"""A PYSKL / MMAction2 skeleton annotation pickle (``ntu60_3danno.pkl``,
    ``ntu120_hrnet.pkl``, ...): a dict with ``split`` (split name -> list of
    ``frame_dir``) and ``annotations`` (one dict per clip: ``frame_dir``,
    ``label``, ``keypoint`` ``[M, T, V, C]``, for 2D data
    ``keypoint_score`` ``[M, T, V]``, ``total_frames``).

    The file is unpickled with an allow-list: numpy arrays and plain Python
    values only, so no code from it runs.  3D keypoints are channels
    ``x, y, z``; 2D keypoints with scores are ``x, y, confidence``.  The
    skeleton is ``ntu25`` for 25 joints and ``coco17`` for 17 unless one is
    given.  The subject of an NTU clip is its ``P###`` field (for
    validation splits by subject).

    Args:
        path (str): The ``.pkl`` file.
        split (str): ``"train"``, ``"val"`` or ``"test"``.
        train_split (str): The pickle's split of training clips.
            (default: ``"xsub_train"``, else ``"train"``)
        test_split (str): The pickle's split of test clips.
            (default: ``"xsub_val"``, else ``"val"`` or ``"test"``)
        skeleton (Skeleton or str, optional): The joints.
        class_names (sequence of str, optional): One name per label.
        frames, transform, val_subjects, cache_dir, on_error, force_reload:
            as :class:`~topogcn.datasets.SMG`.
    """

    def __init__(self, path: Union[str, os.PathLike], split: str = "train",
                 train_split: Optional[str] = None, test_split: Optional[str] = None,
                 skeleton: Union[None, str, Skeleton] = None,
                 class_names: Optional[Sequence[str]] = None, frames: Optional[int] = 64,
                 transform=None, val_subjects: Union[None, int, Sequence[int]] = None,
                 cache_dir: Optional[Union[str, os.PathLike]] = None, on_error: str = "raise",
                 force_reload: bool = False) -> None:
        self.path = os.fspath(path)
        data = read_skeleton_pickle(self.path)
        self._annotations: List[Dict[str, Any]] = data["annotations"]
        splits = data.get("split") or {}
        self.train_split = self._pick(splits, train_split, ("xsub_train", "train"), "train")
        self.test_split = self._pick(splits, test_split, ("xsub_val", "val", "test"), "test")
        both = sorted({str(n) for n in splits[self.train_split]} &
                      {str(n) for n in splits[self.test_split]})
        if both:
            raise DatasetFormatError(f"{self.path}: {len(both)} clips are in both the "
                                     f"{self.train_split!r} and the {self.test_split!r} split "
                                     f"(first: {both[0]!r})")
        seen: Dict[str, int] = {}
        for i, a in enumerate(self._annotations):
            name = str(a.get("frame_dir", i))
            if name in seen:
                raise DatasetFormatError(f"{self.path}: annotations {seen[name]} and {i} are both "
                                         f"'{name}'")
            seen[name] = i
        self._split_of = {str(n): "train" for n in splits[self.train_split]}
        self._split_of.update({str(n): "test" for n in splits[self.test_split]})
        first = self._first_keypoints()
        V = first.shape[2]
        if skeleton is None and V not in _SKELETONS:
            raise DatasetFormatError(f"{self.path}: {V} keypoints per person; name the skeleton "
                                     f"(data.skeleton; built in: 25 -> ntu25, 17 -> coco17)")
        self.skeleton = get_skeleton(skeleton or _SKELETONS[V])
        self.channels = ("x", "y", "z") if first.shape[3] == 3 else (
            ("x", "y", "confidence") if "keypoint_score" in self._annotations[0] else ("x", "y"))
        self._num_channels = len(self.channels)
        labels = [a.get("label") for a in self._annotations]
        if not all(isinstance(y, (int, np.integer)) and 0 <= y < MAX_CLASSES for y in labels):
            bad = next(i for i, y in enumerate(labels)
                       if not isinstance(y, (int, np.integer)) or not 0 <= y < MAX_CLASSES)
            raise DatasetFormatError(f"{self.path}: annotation {bad} has label {labels[bad]!r}; "
                                     f"expected an integer in 0..{MAX_CLASSES - 1}")
        K = int(max(labels)) + 1
        if class_names is not None and len(class_names) != K:
            raise ValueError(f"PysklPickle: {len(class_names)} class names for {K} labels")
        self.classes = list(class_names) if class_names else [str(i) for i in range(K)]
        super().__init__(os.path.dirname(os.path.abspath(self.path)), split, frames, transform,
                         val_subjects, cache_dir, on_error, force_reload)

    def _pick(self, splits: Dict[str, Any], given: Optional[str], defaults: Sequence[str],
              role: str) -> str:
        for name in ([given] if given else list(defaults)):
            if name in splits:
                return name
        raise DatasetFormatError(f"{self.path}: no {role} split "
                                 f"{given or ' / '.join(defaults)!r}; the pickle's splits are "
                                 f"{sorted(splits)} (data.options.{role}_split)")

    def _first_keypoints(self) -> np.ndarray:
        if not self._annotations:
            raise DatasetFormatError(f"{self.path}: no annotation")
        kp = self._annotations[0].get("keypoint")
        if not isinstance(kp, np.ndarray) or kp.ndim != 4:
            raise DatasetFormatError(f"{self.path}: annotation 0 has no 'keypoint' array "
                                     f"[M, T, V, C]")
        return kp

    # ------------------------------------------------------------ cache hooks
    def raw_files(self) -> List[str]:
        return [self.path]

    def processing_options(self) -> Dict[str, Any]:
        return {"file": os.path.basename(self.path), "train_split": self.train_split,
                "test_split": self.test_split, "skeleton": self.skeleton.to_dict(),
                "on_error": self.on_error}

    def read_raw(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:
        V, C = self.skeleton.num_nodes, self._num_channels
        for i, a in enumerate(self._annotations):
            name = str(a.get("frame_dir", i))
            split = self._split_of.get(name)
            if split is None:
                continue
            where = f"{self.path}, annotation {i} ('{name}')"
            try:
                kp = a.get("keypoint")
                if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[2] != V:
                    raise DatasetFormatError(f"{where}: expected 'keypoint' [M, T, {V}, C], got "
                                             f"{getattr(kp, 'shape', type(kp).__name__)}")
                check_sequence_size(kp.shape, where)
                x = kp.astype(np.float32)
                if C == 3 and kp.shape[3] == 2:
                    score = a.get("keypoint_score")
                    if not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]:
                        raise DatasetFormatError(f"{where}: 'keypoint_score' must be "
                                                 f"{list(kp.shape[:3])}")
                    x = np.concatenate([x, score.astype(np.float32)[..., None]], axis=-1)
                if x.shape[3] != C:
                    raise DatasetFormatError(f"{where}: {x.shape[3]} channels, the first "
                                             f"annotation has {C}")
                if x.shape[1] == 0:
                    raise DatasetFormatError(f"{where}: no frame")
                data = np.ascontiguousarray(x.transpose(1, 0, 2, 3))  # [T, M, V, C]
                check_finite(data, where)
                m = _NTU_SUBJECT.search(name)
                subject = int(m.group(1)) if m else zlib.crc32(name.encode()) % 10 ** 8
                yield RawRecording(name, subject, split, data,
                                   [Segment(int(a["label"]), 0, data.shape[0] - 1)])
            except DatasetFormatError as e:
                yield e


@register_dataset("pyskl", description="PYSKL / MMAction2 skeleton pickles (NTU, Kinetics, ...)")
def _build(root, split, *, skeleton=None, frames=64, val_subjects=None, **options):
    return PysklPickle(root, split, skeleton=skeleton, frames=frames, val_subjects=val_subjects,
                       **options)


__all__ = ["PysklPickle"]
