"""Tiny, format-true SMG and iMiGUE folders generated from the documented
layouts: what the test suite and ``benchmarks/reproduce.py --smoke`` run on.
Never real data; the values encode (subject, frame, joint) so that readers
can be checked exactly."""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np


def smg_frame_values(frame: int, subject: int) -> np.ndarray:
    """25 joints x 11 values for one frame; x, y, z encode (subject, frame, joint)."""
    v = np.zeros((25, 11))
    j = np.arange(25)
    v[:, 0] = subject + 0.001 * frame
    v[:, 1] = j * 0.01
    v[:, 2] = 2.0 + 0.0001 * frame
    v[:, 3:] = 7.0  # depth/colour pixels and orientation: ignored
    return v.reshape(-1)


def write_smg(root: str, recordings: Dict[int, Tuple[int, Sequence[Tuple[int, int, int]]]]
              ) -> None:
    """``recordings[subject] = (num_frames, [(label 1-17, start, end), ...])``."""
    for subject, (T, labels) in recordings.items():
        name = f"Sample{subject:04d}"
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        rows = [",".join(f"{x:.6f}" for x in smg_frame_values(t, subject)) for t in range(T)]
        with open(os.path.join(folder, f"{name}_skeleton.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
        with open(os.path.join(folder, f"{name}_finelabels.csv"), "w") as f:
            f.write("".join(f"{y},{s},{e}\n" for y, s, e in labels))


SMG_SPEC = {
    1: (120, [(1, 0, 9), (5, 20, 39), (17, 100, 119)]),
    2: (80, [(2, 10, 10), (3, 30, 59)]),
    3: (60, [(4, 5, 24)]),
    36: (90, [(6, 0, 29), (7, 40, 69)]),
    40: (50, [(8, 1, 20)]),
}


def openpose_person(frame: int, offset: float = 0.0, conf: float = 0.9) -> Dict[str, List[float]]:
    def part(n: int, base: float) -> List[float]:
        out = []
        for k in range(n):
            out += [base + k + offset, frame + offset, conf]
        return out
    return {"person_id": [-1], "pose_keypoints_2d": part(25, 0.0),
            "face_keypoints_2d": part(70, 100.0), "hand_left_keypoints_2d": part(21, 200.0),
            "hand_right_keypoints_2d": part(21, 300.0)}


def write_imigue_json(root: str, videos: Dict[str, Tuple[int, int, str, Sequence]],
                      empty_frames: Sequence[Tuple[str, int]] = (),
                      two_people: Sequence[Tuple[str, int]] = ()) -> None:
    """``videos[name] = (num_frames, subject, split, [(label 1-31|99, start, end)])``."""
    rows = ["video_id,label_id,start_frame,end_frame,subject_id,split"]
    for video, (T, subject, split, labels) in videos.items():
        folder = os.path.join(root, video)
        os.makedirs(folder, exist_ok=True)
        for t in range(T):
            people = [openpose_person(t)]
            if (video, t) in empty_frames:
                people = []
            elif (video, t) in two_people:
                people = [openpose_person(t, offset=1000.0, conf=0.2), openpose_person(t)]
            with open(os.path.join(folder, f"{video}_{t:012d}_keypoints.json"), "w") as f:
                json.dump({"version": 1.3, "people": people}, f)
        rows += [f"{video},{y},{s},{e},{subject},{split}" for y, s, e in labels]
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


IMIGUE_SPEC = {
    "0001": (30, 1, "train", [(1, 0, 9), (99, 10, 29)]),
    "0002": (25, 2, "train", [(31, 5, 14)]),
    "0003": (20, 3, "test", [(2, 0, 19)]),
}


def write_miga(root: str, split_folder: str, videos: Dict[str, Tuple[int, Sequence]]) -> None:
    """``videos[name] = (num_frames, [(class, start, end)])`` with 1-based frame indices."""
    for video, (T, labels) in videos.items():
        folder = os.path.join(root, split_folder, video)
        os.makedirs(folder, exist_ok=True)
        rows = []
        for t in range(1, T + 1):
            vals = [t]
            for p in range(35):
                vals += [p * 10.0 + t, t * 1.0, 0.8]
            rows.append(",".join(str(v) for v in vals))
        with open(os.path.join(folder, f"{video}_light_hand.csv"), "w") as f:
            f.write("\n".join(rows) + "\n")
        with open(os.path.join(folder, f"{video}_label.csv"), "w") as f:
            f.write("".join(f"{c},{s},{e}\n" for c, s, e in labels))


def write_smg_fixture(root: str) -> str:
    """A 5-subject SMG folder (train subjects 1-3, test 36 and 40)."""
    write_smg(root, SMG_SPEC)
    return root


def write_imigue_fixture(root: str) -> str:
    """A 3-video iMiGUE folder in the OpenPose-JSON layout."""
    write_imigue_json(root, IMIGUE_SPEC)
    return root


def trusted_caches(root: str) -> list:
    """The processed-cache folders under ``root/processed`` that a later run
    would trust (those holding an ``index.json``)."""
    processed = os.path.join(root, "processed")
    if not os.path.isdir(processed):
        return []
    return [d for d in os.listdir(processed)
            if os.path.isfile(os.path.join(processed, d, "index.json"))]


def write_ntu_skeleton(path: str, frames: int, bodies: Dict[str, Sequence[int]]) -> Dict:
    """An NTU RGB+D ``.skeleton`` text file: ``bodies[tracking id]`` lists the
    frames the body is in; joint ``v`` of body ``b`` at frame ``t`` is at
    ``(t, v, index of b)``.  Returns ``{id: index}``."""
    index = {b: i for i, b in enumerate(bodies)}
    out = [str(frames)]
    for t in range(frames):
        present = [b for b in bodies if t in bodies[b]]
        out.append(str(len(present)))
        for b in present:
            out.append(f"{b} 0 1 2 1 2 0 0.1 0.2 2")
            out.append("25")
            for v in range(25):
                out.append(f"{t} {v} {index[b]} 0.5 0.5 100 200 1 0 0 0 2")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return index
