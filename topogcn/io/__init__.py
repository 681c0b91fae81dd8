"""Every reader and writer of skeleton files, in one place.

Readers check what they read at one boundary -- types, finite values within
the documented limits (:mod:`topogcn.io.limits`), sizes before memory is
allocated -- and raise :class:`DatasetFormatError` naming the file and the
line, frame or key.  Datasets (:mod:`topogcn.datasets`), ``topogcn
predict``, ``topogcn spot`` and ``topogcn convert`` all read through them.
"""
from topogcn.io.arrays import read_numpy
from topogcn.io.coco import read_coco_keypoints
from topogcn.io.errors import DatasetFormatError
from topogcn.io.folder import read_label_csv, read_label_table, write_folder
from topogcn.io.frames import fill_missing
from topogcn.io.imigue import read_clip_table, read_miga_light_hand
from topogcn.io.mediapipe import mediapipe_columns, read_mediapipe_csv
from topogcn.io.ntu import read_ntu_skeleton
from topogcn.io.openpose import (
    find_openpose_recordings, read_openpose_frame, read_openpose_people, read_openpose_recording,
)
from topogcn.io.pyskl import read_skeleton_pickle, write_skeleton_pickle
from topogcn.io.segments import Segment, check_segments
from topogcn.io.sequence import SEQUENCE_TYPES, read_sequence
from topogcn.io.smg import read_label_rows, read_smg_skeleton
from topogcn.io.text import read_names, read_numeric_csv, read_text

__all__ = [
    "DatasetFormatError", "Segment", "check_segments",
    "read_sequence", "SEQUENCE_TYPES", "read_numpy", "read_ntu_skeleton", "read_smg_skeleton",
    "read_label_rows", "read_miga_light_hand", "read_clip_table", "read_openpose_people",
    "read_openpose_frame", "find_openpose_recordings", "read_openpose_recording",
    "read_mediapipe_csv", "mediapipe_columns", "read_coco_keypoints", "read_skeleton_pickle",
    "write_skeleton_pickle", "read_label_csv", "read_label_table", "write_folder",
    "fill_missing", "read_text", "read_names", "read_numeric_csv",
]
