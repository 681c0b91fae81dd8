"""Sliding windows of whole recordings, labelled for spotting."""
from __future__ import annotations

from typing import Iterator, List

import numpy as np
import torch

from topogcn.datasets.base import Recording, SkeletonDataset

BACKGROUND = "background"


def temporal_iou(a_start: int, a_end: int, b_start: int, b_end: int) -> float:
    """Temporal IoU of two inclusive frame ranges."""
    inter = min(a_end, b_end) - max(a_start, b_start) + 1
    if inter <= 0:
        return 0.0
    union = (a_end - a_start + 1) + (b_end - b_start + 1) - inter
    return inter / union


class SpottingWindows(SkeletonDataset):
    r"""The windows of ``length`` frames every ``stride`` frames over the
    recordings of ``dataset``, for training a clip classifier to spot
    micro-gestures in long recordings.

    A window is labelled with the class of the segment it overlaps most when
    their temporal IoU is at least ``min_iou``; with the extra class
    ``"background"`` (the last label) when its IoU with every segment is
    below ``background_iou`` (0: no overlap at all); and left out otherwise
    (a partial gesture is neither).  Background windows
    are subsampled (seeded) to at most ``background_ratio`` times the number
    of gesture windows.  Shares the frames, transform and ``frames`` of
    ``dataset``; :meth:`recordings` gives those of ``dataset``.

    Args:
        dataset (SkeletonDataset): Any topogcn dataset.
        length (int): Window length in frames.
        stride (int, optional): Step between windows. (default: :obj:`4`)
        min_iou (float, optional): Temporal IoU with a segment for a gesture
            label. (default: :obj:`0.5`)
        background_iou (float, optional): Largest temporal IoU with a segment
            of a background window, exclusive. (default: :obj:`0.2`)
        background_ratio (float, optional): Background windows per gesture
            window, at most. (default: :obj:`1.0`)
        seed (int, optional): Seed of the background subsampling.
    """

    def __init__(self, dataset: SkeletonDataset, length: int, stride: int = 4,
                 min_iou: float = 0.5, background_ratio: float = 1.0, seed: int = 0,
                 background_iou: float = 0.2) -> None:
        if length < 1 or stride < 1:
            raise ValueError(f"window length and stride must be positive, got {length}, "
                             f"{stride}")
        if not 0 < min_iou <= 1:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
        if not 0 <= background_iou <= min_iou:
            raise ValueError(f"background_iou must be in [0, min_iou], got {background_iou}")
        super().__init__(dataset.split, dataset.frames, dataset.transform)
        self.source = dataset
        self.length, self.stride, self.min_iou = length, stride, min_iou
        self.background_iou = background_iou
        self.skeleton = dataset.skeleton
        self.channels = tuple(dataset.channels)
        self.side_specific_classes = dataset.side_specific_classes
        self.classes = list(dataset.classes) + [BACKGROUND]
        K = len(dataset.classes)
        gestures: List[List[int]] = []
        background: List[List[int]] = []
        for r, rec in enumerate(dataset.recordings()):
            T = rec.data.size(1)
            starts = list(range(0, max(T - length, 0) + 1, stride))
            for s in starts:
                e = min(s + length, T) - 1
                best, label = 0.0, -1
                for seg in rec.segments:
                    iou = temporal_iou(s, e, seg.start, seg.end)
                    if iou > best:
                        best, label = iou, seg.label
                if best >= min_iou:
                    gestures.append([r, s, e, label])
                elif best < background_iou or best == 0:
                    background.append([r, s, e, K])
        if not gestures:
            lengths = [seg.end - seg.start + 1 for rec in dataset.recordings()
                       for seg in rec.segments]
            found = (f"its {len(lengths)} labelled segments are {min(lengths)}-"
                     f"{max(lengths)} frames long" if lengths else "it has no labelled segment")
            raise ValueError(
                f"SpottingWindows: no window of {length} frames (every {stride}) overlaps a "
                f"labelled segment of the {dataset.split!r} split with temporal IoU >= "
                f"{min_iou}; {found}: choose a window length (data.window) near them")
        rng = np.random.default_rng(seed)
        keep = int(round(background_ratio * len(gestures)))
        if len(background) > keep:
            idx = np.sort(rng.choice(len(background), keep, replace=False))
            background = [background[i] for i in idx]
        table = torch.tensor(gestures + background, dtype=torch.long).view(-1, 4)
        self._set_storage(dataset._frames, dataset._rec_offsets, table, dataset._rec_names,
                          dataset._rec_subjects)

    @property
    def background_label(self) -> int:
        return len(self.classes) - 1

    def recordings(self) -> Iterator[Recording]:
        return self.source.recordings()

    def __repr__(self) -> str:
        n_bg = int((self.labels == self.background_label).sum())
        return (f"{type(self).__name__}({self.source!r}, length={self.length}, "
                f"stride={self.stride}, windows={len(self)}, background={n_bg})")
