"""MediaPipe landmarks as CSV: Pose (33), Hands (21) or Holistic without
the face mesh (75), one file per recording, named or numbered columns."""
from __future__ import annotations

import csv
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.frames import fill_missing
from topogcn.io.limits import MAX_ABS_VALUE
from topogcn.io.text import open_text
from topogcn.skeleton import get_skeleton

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
                vals = np.array([float(c) for c in cells], np.float64)
            except ValueError:
                bad = next(k for k, c in enumerate(cells) if not _is_float(c))
                raise DatasetFormatError(f"{path}, line {lineno}, column "
                                         f"'{header[index[bad]].strip()}': {cells[bad]!r} is "
                                         f"not a number") from None
            if not (np.abs(vals) <= MAX_ABS_VALUE).all():  # NaN and infinity too
                raise DatasetFormatError(f"{path}, line {lineno}: NaN, infinite or values "
                                         f"beyond +-{MAX_ABS_VALUE:.0e}")
            frames.append(vals.astype(np.float32))
            present.append(True)
    if not frames:
        raise DatasetFormatError(f"{path}: no frame (only a header)")
    if not any(present):
        raise DatasetFormatError(f"{path}: no frame has a detection (every row is empty)")
    data = np.stack(frames).reshape(len(frames), num_joints, 3)
    return fill_missing(data, np.array(present), missing)[None]


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False
