"""OpenPose's ``--write_json`` output: one JSON per frame,
``<name>_<frame, 12 digits>_keypoints.json``, holding ``{"people": [{
"pose_keypoints_2d": [...], "face_keypoints_2d": [...],
"hand_left_keypoints_2d": [...], "hand_right_keypoints_2d": [...]}]}``;
read as the 137 points of ``openpose137`` (BODY_25, face, left hand,
right hand) with (x, y, confidence)."""
from __future__ import annotations

import os
import re
from typing import Dict, Optional, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.frames import fill_missing
from topogcn.io.limits import check_frame_indices
from topogcn.io.json_values import kind, load_json, numbers
from topogcn.io.text import path_in_root

#: the file name of one frame: ``<recording>_<frame, 12 digits>_keypoints.json``
OPENPOSE_FRAME = re.compile(r"^(.*)_(\d{12})_keypoints\.json$")


def read_openpose_people(path: str) -> Tuple[np.ndarray, bool]:
    """Every person of one OpenPose JSON frame as ``[P, 137, 3]`` (x, y,
    confidence; BODY_25, face, left hand, right hand), ordered by summed
    BODY_25 confidence (highest first, ties in file order), and whether any
    person has face or hand keypoints."""
    data = load_json(path, "OpenPose JSON")
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise DatasetFormatError(f"{path}: no 'people' list (expected OpenPose JSON output)")
    persons, extra = [], False
    for k, person in enumerate(people):
        if not isinstance(person, dict):
            raise DatasetFormatError(f"{path}: people[{k}] is {kind(person)}, expected an "
                                     f"object with 'pose_keypoints_2d'")
        parts = []
        for key, n in (("pose_keypoints_2d", 25), ("face_keypoints_2d", 70),
                       ("hand_left_keypoints_2d", 21), ("hand_right_keypoints_2d", 21)):
            vals = person.get(key)
            if vals is None or vals == []:  # not detected (or not asked for)
                parts.append(np.zeros((n, 3)))
                continue
            if key != "pose_keypoints_2d":
                extra = True
            parts.append(numbers(vals, f"{path}: people[{k}].{key}", (n, 3)))
        persons.append(np.concatenate(parts))
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
        path = path_in_root(root, entry, root)  # no link out of the root
        if os.path.isdir(path):
            frames = {}
            for fname in os.listdir(path):
                m = OPENPOSE_FRAME.match(fname)
                if m:
                    frames[int(m.group(2))] = path_in_root(root, os.path.join(entry, fname),
                                                           root)
            if frames:
                found[entry] = frames
        else:
            m = OPENPOSE_FRAME.match(entry)
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
