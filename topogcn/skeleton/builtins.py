"""Built-in skeleton layouts.

Sources of the joint orders and bone lists:

* ``ntu25`` / ``kinect_v2``: the Kinect v2 camera-space joints in the order of
  the Kinect SDK ``JointType`` enumeration (used by NTU RGB+D and by SMG) and
  the standard NTU bone list of the ST-GCN / CTR-GCN / InfoGCN graph files.
  Centre: joint 20 (SpineShoulder), as in InfoGCN and CTR-GCN.
* ``openpose25``: OpenPose's ``BODY_25`` model (``output_keypoints`` of the
  OpenPose documentation), 24 bones of the OpenPose renderer.  Centre: 1 (Neck).
* ``openpose137``: the full OpenPose output used by iMiGUE: ``BODY_25``
  (0-24), the 70-point face (25-94), the left hand (95-115) and the right hand
  (116-136), each 21 points (wrist, then thumb, index, middle, ring and little
  finger from base to tip).  The face contour, brows, nose, eyes (closed
  loops), outer and inner lips (closed loops) are chained as OpenPose draws
  them.  To make one connected graph (a topology choice of topogcn, not of
  OpenPose): the hands' wrist points are linked to the body wrists (left hand
  0 -> body 7 LWrist, right hand 0 -> body 4 RWrist); each pupil is linked to
  the six points of its eye; the eyes' inner corners (39, 42) and the brows'
  inner ends (21, 22) to the top of the nose bridge (27); the jaw ends (0,
  16) to the outer brow ends (17, 26); the top of the outer lip (51) to the
  bottom of the nose (33); the inner lip corners (60, 64) to the outer ones
  (48, 54); the nose tip (face 30) to the body nose (body 0).
* ``coco17``: the 17 COCO keypoints and the 19 links of the COCO keypoint
  annotation ``skeleton`` field.  Centre: 0 (nose), as in PYSKL.
* ``mediapipe_hand21`` / ``hand21``: the 21 landmarks of MediaPipe Hands
  (wrist, then thumb CMC/MCP/IP/tip, and MCP/PIP/DIP/tip of the index, middle,
  ring and pinky fingers) and the 21 links of its ``HAND_CONNECTIONS`` (the
  palm: wrist-thumb CMC, wrist-index MCP, wrist-pinky MCP and the MCP row).
  The order is OpenPose's hand order too.  Centre: 0 (wrist).
* ``mediapipe_holistic75``: MediaPipe Holistic without its 468-point face
  mesh: the 33 pose landmarks (0-32), the left hand (33-53) and the right
  hand (54-74) in MediaPipe Hands order; each hand's wrist is linked to the
  pose wrist of its side (a topogcn choice: one connected graph).  Centre: 0.
* ``mediapipe33``: the 33 landmarks of MediaPipe Pose (BlazePose) in
  MediaPipe's order and the 35 links of its ``POSE_CONNECTIONS``.  Those leave
  the face, the mouth and the body as three pieces; to make one connected
  graph (a topogcn choice) the mouth corners (9, 10) are linked to the nose
  (0) and the nose to both shoulders (11, 12).  Centre: 0 (nose), as coco17.

Mirror pairs (the left/right symmetry used by mirroring augmentation) follow
the joint names (``Left``/``Right``, ``L``/``R``, ``left``/``right``); the
70-point OpenPose face uses the standard 68-point flip (jaw ``i`` <-> ``16 -
i``, brows, eyes, nostrils and lips mirrored, pupils swapped); a single hand
declares no pair (its mirror image is the other hand).

The facts are gathered in ``shared/reference/dataset-formats.md`` of the
project, with their sources.
"""
from __future__ import annotations

from typing import List, Tuple

from topogcn.skeleton.skeleton import Skeleton, mirror_pairs_by_name

NTU25_JOINTS = (
    "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
    "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft",
    "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight",
    "FootRight", "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)
NTU25_BONES = (
    (0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8),
    (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16),
    (18, 17), (19, 18), (21, 22), (22, 7), (23, 24), (24, 11),
)

BODY25_JOINTS = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
BODY25_BONES = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
#: BODY_25 points above the hips (nose, neck, shoulders, elbows, wrists, eyes,
#: ears): what is visible of a seated speaker.
BODY25_UPPER = (0, 1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18)

HAND_JOINTS = ("Wrist",) + tuple(
    f"{finger}{k}" for finger in ("Thumb", "Index", "Middle", "Ring", "Little")
    for k in range(1, 5))
HAND_BONES = tuple(
    bone for base in (1, 5, 9, 13, 17)
    for bone in [(0, base), (base, base + 1), (base + 1, base + 2), (base + 2, base + 3)])


def _chain(start: int, stop: int, closed: bool = False) -> List[Tuple[int, int]]:
    bones = [(i, i + 1) for i in range(start, stop)]
    if closed:
        bones.append((stop, start))
    return bones


FACE_JOINTS = (
    tuple(f"Jaw{i}" for i in range(17)) + tuple(f"RBrow{i}" for i in range(5))
    + tuple(f"LBrow{i}" for i in range(5)) + tuple(f"NoseBridge{i}" for i in range(4))
    + tuple(f"NoseLower{i}" for i in range(5)) + tuple(f"REye{i}" for i in range(6))
    + tuple(f"LEye{i}" for i in range(6)) + tuple(f"LipOuter{i}" for i in range(12))
    + tuple(f"LipInner{i}" for i in range(8)) + ("RPupil", "LPupil")
)
FACE_BONES = tuple(
    _chain(0, 16) + _chain(17, 21) + _chain(22, 26) + _chain(27, 30) + _chain(31, 35)
    + _chain(36, 41, closed=True) + _chain(42, 47, closed=True)
    + _chain(48, 59, closed=True) + _chain(60, 67, closed=True)
    # links that make the face one connected piece (see the module docstring)
    + [(68, j) for j in range(36, 42)] + [(69, j) for j in range(42, 48)]
    + [(39, 27), (42, 27), (21, 27), (22, 27), (0, 17), (16, 26), (51, 33),
       (30, 33), (60, 48), (64, 54)]
)

FACE_OFFSET, LHAND_OFFSET, RHAND_OFFSET = 25, 95, 116

COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO17_BONES = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


MEDIAPIPE33_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
MEDIAPIPE33_BONES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18),
    (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27),
    (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
    (0, 9), (0, 10), (0, 11), (0, 12),  # topogcn's links: one connected graph
)


MEDIAPIPE_HAND_JOINTS = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip") + tuple(
    f"{finger}_{k}" for finger in ("index_finger", "middle_finger", "ring_finger", "pinky")
    for k in ("mcp", "pip", "dip", "tip"))
MEDIAPIPE_HAND_BONES = (
    (0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17),  # palm
    (1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
    (13, 14), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20),
)

#: the 68-point face's mirror image of every point (iBUG 300-W order, as
#: OpenPose's face model), and the two pupils (68, 69)
FACE_MIRROR = (
    [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
    + [(31, 35), (32, 34)] + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)] + [(60, 64), (61, 63), (65, 67)]
    + [(68, 69)]
)


def ntu25() -> Skeleton:
    return Skeleton(
        "ntu25", 25, NTU25_BONES, center=20, joint_names=NTU25_JOINTS,
        parts={
            "torso": [0, 1, 2, 3, 20],
            "left_arm": [4, 5, 6, 7, 21, 22],
            "right_arm": [8, 9, 10, 11, 23, 24],
            "left_leg": [12, 13, 14, 15],
            "right_leg": [16, 17, 18, 19],
            "upper_body": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24],
        }, mirror=mirror_pairs_by_name(NTU25_JOINTS, [("Left", "Right")]))


def openpose25() -> Skeleton:
    return Skeleton("openpose25", 25, BODY25_BONES, center=1, joint_names=BODY25_JOINTS,
                    parts={"upper_body": list(BODY25_UPPER)}, mirror=_body25_mirror())


def _body25_mirror() -> List[Tuple[int, int]]:
    return mirror_pairs_by_name(BODY25_JOINTS, [("L", "R")])


def openpose137() -> Skeleton:
    def shift(bones, off):
        return [(u + off, v + off) for u, v in bones]

    bones = (list(BODY25_BONES) + shift(FACE_BONES, FACE_OFFSET)
             + shift(HAND_BONES, LHAND_OFFSET) + shift(HAND_BONES, RHAND_OFFSET)
             + [(LHAND_OFFSET, 7), (RHAND_OFFSET, 4), (FACE_OFFSET + 30, 0)])
    names = (BODY25_JOINTS + tuple(f"Face{n}" for n in FACE_JOINTS)
             + tuple(f"LHand{n}" for n in HAND_JOINTS) + tuple(f"RHand{n}" for n in HAND_JOINTS))
    body = list(range(25))
    face = list(range(FACE_OFFSET, LHAND_OFFSET))
    lhand = list(range(LHAND_OFFSET, RHAND_OFFSET))
    rhand = list(range(RHAND_OFFSET, 137))
    return Skeleton(
        "openpose137", 137, bones, center=1, joint_names=names,
        parts={
            "body": body, "face": face, "left_hand": lhand, "right_hand": rhand,
            "upper_body": list(BODY25_UPPER),
            "fingertips": [LHAND_OFFSET + t for t in (4, 8, 12, 16, 20)]
            + [RHAND_OFFSET + t for t in (4, 8, 12, 16, 20)],
        },
        mirror=_body25_mirror() + [(FACE_OFFSET + a, FACE_OFFSET + b) for a, b in FACE_MIRROR]
        + [(LHAND_OFFSET + j, RHAND_OFFSET + j) for j in range(21)])


def coco17() -> Skeleton:
    return Skeleton("coco17", 17, COCO17_BONES, center=0, joint_names=COCO17_JOINTS,
                    parts={"upper_body": list(range(11))},
                    mirror=mirror_pairs_by_name(COCO17_JOINTS, [("left", "right")]))


def mediapipe_hand21() -> Skeleton:
    return Skeleton(
        "mediapipe_hand21", 21, MEDIAPIPE_HAND_BONES, center=0,
        joint_names=MEDIAPIPE_HAND_JOINTS,
        parts={"thumb": [1, 2, 3, 4], "index": [5, 6, 7, 8], "middle": [9, 10, 11, 12],
               "ring": [13, 14, 15, 16], "pinky": [17, 18, 19, 20],
               "fingertips": [4, 8, 12, 16, 20]},
        mirror=[])


def mediapipe33() -> Skeleton:
    return Skeleton(
        "mediapipe33", 33, MEDIAPIPE33_BONES, center=0, joint_names=MEDIAPIPE33_JOINTS,
        parts={
            "face": list(range(11)),
            "left_hand": [15, 17, 19, 21], "right_hand": [16, 18, 20, 22],
            "upper_body": list(range(25)),
        }, mirror=mirror_pairs_by_name(MEDIAPIPE33_JOINTS, [("left", "right")]))


def mediapipe_holistic75() -> Skeleton:
    pose, left, right = 0, 33, 54

    def shift(bones, off):
        return [(u + off, v + off) for u, v in bones]

    bones = (list(MEDIAPIPE33_BONES) + shift(MEDIAPIPE_HAND_BONES, left)
             + shift(MEDIAPIPE_HAND_BONES, right) + [(left, 15), (right, 16)])
    names = (MEDIAPIPE33_JOINTS + tuple(f"left_hand_{n}" for n in MEDIAPIPE_HAND_JOINTS)
             + tuple(f"right_hand_{n}" for n in MEDIAPIPE_HAND_JOINTS))
    return Skeleton(
        "mediapipe_holistic75", 75, bones, center=pose, joint_names=names,
        parts={"pose": list(range(33)), "left_hand": list(range(left, right)),
               "right_hand": list(range(right, 75)), "upper_body": list(range(25)) +
               list(range(left, 75))},
        mirror=mirror_pairs_by_name(names, [("left", "right")]))


BUILTINS = {
    "ntu25": (ntu25, ("kinect_v2",)),
    "openpose25": (openpose25, ("body25",)),
    "openpose137": (openpose137, ()),
    "coco17": (coco17, ("coco",)),
    "mediapipe33": (mediapipe33, ("mediapipe", "blazepose")),
    "mediapipe_hand21": (mediapipe_hand21, ("hand21", "mediapipe_hand")),
    "mediapipe_holistic75": (mediapipe_holistic75, ("holistic", "mediapipe_holistic")),
}
