"""NTU RGB+D 60 / 120 files: the ``.skeleton`` text format, the file names
``SsssCcccPpppRrrrAaaa`` (setup, camera, performer, replication, action),
the action names and the official benchmark splits.

Facts from the NTU RGB+D papers (Shahroudy et al., CVPR 2016; Liu et al.,
TPAMI 2019) as the public code of the field uses them: cross-subject
training performers below; cross-view trains on cameras 2 and 3; NTU-120's
cross-setup trains on the even setups.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import MAX_FRAMES, MAX_PERSONS, check_finite
from topogcn.io.text import path_in_root, read_names, read_text

#: values per body header and per joint line of an NTU RGB+D ``.skeleton`` file
NTU_BODY_VALUES, NTU_JOINT_VALUES, NTU_JOINTS = 10, 12, 25


def read_ntu_skeleton(path: str, max_persons: int = 2) -> np.ndarray:
    """An NTU RGB+D ``.skeleton`` text file as ``[M, T, 25, 3]`` (camera
    x, y, z in metres).  Bodies are told apart by their tracking id; with
    at most ``max_persons`` bodies all are kept in file order (first
    appearance), otherwise the ``max_persons`` seen in the most frames (then
    with the most motion), in that order; frames where a kept body is
    missing are zeros.  Errors name the file and line."""
    lines = read_text(path).split()
    pos = 0

    def take(n: int, what: str) -> List[str]:
        nonlocal pos
        if pos + n > len(lines):
            raise DatasetFormatError(f"{path}: ends inside {what} (truncated?)")
        out = lines[pos:pos + n]
        pos += n
        return out

    def number(tok: str, what: str) -> float:
        try:
            return float(tok)
        except ValueError:
            raise DatasetFormatError(f"{path}: {what}: {tok!r} is not a number") from None

    def count(tok: str, what: str) -> int:
        value = number(tok, what)
        if not value.is_integer():  # NaN and infinity too
            raise DatasetFormatError(f"{path}: {what}: {tok!r} is not a whole number")
        return int(value)

    T = count(take(1, "the frame count")[0], "frame count")
    if not 0 < T <= MAX_FRAMES:
        raise DatasetFormatError(f"{path}: frame count {T} outside 1..{MAX_FRAMES}")
    bodies: dict = {}  # body id -> {frame: [25, 3]}
    for t in range(T):
        n_bodies = count(take(1, f"frame {t}")[0], f"frame {t}: body count")
        if not 0 <= n_bodies <= MAX_PERSONS:
            raise DatasetFormatError(f"{path}: frame {t}: body count {n_bodies} outside "
                                     f"0..{MAX_PERSONS}")
        for _ in range(n_bodies):
            body_id = take(NTU_BODY_VALUES, f"frame {t}: body header")[0]
            joints = count(take(1, f"frame {t}: joint count")[0], "joint count")
            if joints != NTU_JOINTS:
                raise DatasetFormatError(f"{path}: frame {t}: {joints} joints, expected "
                                         f"{NTU_JOINTS} (Kinect v2)")
            vals = [number(v, f"frame {t}: joint values")
                    for v in take(NTU_JOINTS * NTU_JOINT_VALUES, f"frame {t}: joints")]
            with np.errstate(over="ignore"):  # beyond float32: inf, refused below
                xyz = np.asarray(vals, np.float32).reshape(NTU_JOINTS, NTU_JOINT_VALUES)[:, :3]
            bodies.setdefault(body_id, {})[t] = xyz
    if pos != len(lines):
        raise DatasetFormatError(f"{path}: {len(lines) - pos} values after the last of its "
                                 f"{T} frames")
    if not bodies:
        raise DatasetFormatError(f"{path}: no body in any of its {T} frames")

    def motion(frames: dict) -> float:
        arr = np.stack([frames[t] for t in sorted(frames)])
        return float(np.abs(np.diff(arr, axis=0)).sum()) if len(arr) > 1 else 0.0
    if len(bodies) <= max_persons:  # all kept: in file order (first appearance)
        order = list(bodies)
    else:  # the most present, then the most moving
        order = sorted(bodies, key=lambda b: (-len(bodies[b]), -motion(bodies[b])))
    out = np.zeros((min(max_persons, len(order)), T, NTU_JOINTS, 3), np.float32)
    for m, b in enumerate(order[:max_persons]):
        for t, xyz in bodies[b].items():
            out[m, t] = xyz
    check_finite(out.transpose(1, 0, 2, 3), path)
    return out


#: the 120 action classes, A001 first (A001-A060: NTU RGB+D 60)
NTU_ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup",
    "throw", "sitting down", "standing up (from sitting position)", "clapping", "reading",
    "writing", "tear up paper", "wear jacket", "take off jacket", "wear a shoe",
    "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard", "pointing to something with finger",
    "taking a selfie", "check time (from watch)", "rub two hands together", "nod head/bow",
    "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling",
    "touch head (headache)", "touch chest (stomachache/heart pain)", "touch back (backache)",
    "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair",
    "thumb up", "thumb down", "make ok sign", "make victory sign", "staple book",
    "counting money", "cutting nails", "cutting paper (using scissors)", "snapping fingers",
    "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back",
    "put on bag", "take off bag", "put something into a bag", "take something out of a bag",
    "open a box", "move heavy objects", "shake fist", "throw up cap/hat",
    "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself",
    "blow nose", "hit other person with something", "wield knife towards other person",
    "knock over other person (hit with body)", "grab other person's stuff",
    "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)

#: cross-subject training performers of NTU-60 and (the longer list) NTU-120
XSUB60_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XSUB120_TRAIN = XSUB60_TRAIN + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85,
    86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)

#: benchmark -> number of classes
BENCHMARKS = {"xsub": 60, "xview": 60, "xsub120": 120, "xset120": 120}

_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")


def parse_ntu_name(stem: str) -> Optional[Dict[str, int]]:
    """``{"setup", "camera", "performer", "replication", "action"}`` of a
    file stem ``SsssCcccPpppRrrrAaaa`` (:obj:`None` for another name)."""
    m = _NAME.match(stem)
    if not m:
        return None
    return dict(zip(("setup", "camera", "performer", "replication", "action"),
                    (int(g) for g in m.groups())))


def ntu_split(info: Dict[str, int], benchmark: str) -> str:
    """``"train"`` or ``"test"`` of a recording under an official benchmark."""
    if benchmark == "xsub":
        return "train" if info["performer"] in XSUB60_TRAIN else "test"
    if benchmark == "xsub120":
        return "train" if info["performer"] in XSUB120_TRAIN else "test"
    if benchmark == "xview":
        return "train" if info["camera"] in (2, 3) else "test"
    if benchmark == "xset120":
        return "train" if info["setup"] % 2 == 0 else "test"
    raise ValueError(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}")


def ntu_files(root: str, benchmark: str = "xsub", missing_list: Optional[str] = None
              ) -> Iterator[Tuple[str, str, Dict[str, int]]]:
    """``(stem, path, info)`` of the ``.skeleton`` files under ``root`` that
    belong to ``benchmark`` (actions 1-60 for the NTU-60 benchmarks), sorted
    by name, leaving out the stems listed in ``missing_list`` (the release's
    list of samples with missing skeletons, one name per line)."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"NTU folder '{root}' does not exist (expected the "
                                f".skeleton files of NTU RGB+D)")
    skip = set()
    if missing_list:
        skip = {os.path.splitext(n.strip())[0] for n in read_names(missing_list) if n.strip()}
    found: Dict[str, str] = {}
    for folder, _, names in os.walk(root):
        for n in sorted(names):
            if not n.endswith(".skeleton"):
                continue
            path = path_in_root(root, os.path.relpath(os.path.join(folder, n), root), root)
            if n[:-9] in found:
                raise DatasetFormatError(f"{path}: the sample {n[:-9]} is also "
                                         f"{found[n[:-9]]}; keep one")
            found[n[:-9]] = path
    if not found:
        raise DatasetFormatError(f"{root}: no .skeleton file")
    for stem, path in sorted(found.items()):
        info = parse_ntu_name(stem)
        if info is None:
            raise DatasetFormatError(f"{path}: not an NTU name (expected "
                                     f"SsssCcccPpppRrrrAaaa.skeleton)")
        if stem in skip or info["action"] > BENCHMARKS[benchmark]:
            continue
        yield stem, path, info
