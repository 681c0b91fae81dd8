"""Labelled segments of a recording and their checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from topogcn.io.errors import DatasetFormatError


@dataclass(frozen=True)
class Segment:
    """A labelled micro-gesture in a recording; ``end`` is inclusive."""
    label: int
    start: int
    end: int


def check_segments(segments: Sequence[Segment], num_frames: int, num_classes: int,
                   path: str, lines: Optional[Sequence[int]] = None) -> None:
    """Refuse a label outside ``0 .. num_classes - 1`` or a segment that ends
    before it starts or runs past the recording, naming the line."""
    for k, seg in enumerate(segments):
        where = f"{path}, line {lines[k]}" if lines else f"{path}, segment {k}"
        if not 0 <= seg.label < num_classes:
            raise DatasetFormatError(
                f"{where}: label {seg.label + 1} outside the class range 1..{num_classes}")
        if seg.end < seg.start:
            raise DatasetFormatError(
                f"{where}: segment ends (frame {seg.end}) before it starts (frame {seg.start})")
        if seg.start < 0 or seg.end >= num_frames:
            raise DatasetFormatError(
                f"{where}: segment {seg.start}..{seg.end} runs past the recording, which has "
                f"{num_frames} frames (0..{num_frames - 1})")
