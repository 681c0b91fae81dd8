"""NTU RGB+D 60 / 120: action names, the official benchmark splits, and the
conversion of a folder of ``.skeleton`` files to a
:class:`~topogcn.datasets.SkeletonFolder`.

Facts from the NTU RGB+D papers (Shahroudy et al., CVPR 2016; Liu et al.,
TPAMI 2019) as the public code of the field uses them: file names
``SsssCcccPpppRrrrAaaa`` (setup, camera, performer, replication, action);
cross-subject training performers below; cross-view trains on cameras 2
and 3; NTU-120's cross-setup trains on the even setups.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

from topogcn.datasets.base import DatasetFormatError
from topogcn.datasets.files import read_names, read_ntu_skeleton

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
    found: List[Tuple[str, str]] = []
    for folder, _, names in os.walk(root):
        found += [(n[:-9], os.path.join(folder, n)) for n in names if n.endswith(".skeleton")]
    if not found:
        raise DatasetFormatError(f"{root}: no .skeleton file")
    for stem, path in sorted(found):
        info = parse_ntu_name(stem)
        if info is None:
            raise DatasetFormatError(f"{path}: not an NTU name (expected "
                                     f"SsssCcccPpppRrrrAaaa.skeleton)")
        if stem in skip or info["action"] > BENCHMARKS[benchmark]:
            continue
        yield stem, path, info


def convert_ntu(root: str, out: str, benchmark: str = "xsub",
                missing_list: Optional[str] = None, max_persons: int = 2) -> str:
    """Convert NTU RGB+D ``.skeleton`` files under ``root`` to a
    :class:`~topogcn.datasets.SkeletonFolder` in ``out``: one
    ``<SsssCcccPpppRrrrAaaa>.npy`` ``[M, T, 25, 3]`` per file (bodies as
    :func:`~topogcn.datasets.files.read_ntu_skeleton` keeps them: the
    ``max_persons`` seen in most frames), the class its action (names of
    :data:`NTU_ACTIONS`), the subject its performer, the split that of
    ``benchmark`` (``xsub``, ``xview``: NTU-60; ``xsub120``, ``xset120``:
    NTU-120)."""
    from topogcn.datasets.convert import _write_folder
    from topogcn.skeleton import get_skeleton

    classes = list(NTU_ACTIONS[:BENCHMARKS.get(benchmark, 0)])
    rows: List[List] = []

    def recordings():
        for stem, path, info in ntu_files(root, benchmark, missing_list):
            data = read_ntu_skeleton(path, max_persons)
            fname = f"{stem}.npy"
            rows.append([fname, classes[info["action"] - 1], 0, data.shape[1] - 1,
                         info["performer"], ntu_split(info, benchmark)])
            yield fname, data

    return _write_folder(out, get_skeleton("ntu25"), recordings(), rows, classes,
                         ("x", "y", "z"))


__all__ = ["NTU_ACTIONS", "XSUB60_TRAIN", "XSUB120_TRAIN", "BENCHMARKS", "parse_ntu_name",
           "ntu_split", "ntu_files", "convert_ntu"]
