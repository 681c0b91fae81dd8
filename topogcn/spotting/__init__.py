"""Spotting micro-gestures in long recordings.

:func:`train_frames` trains a frame-level spotter
(:class:`~topogcn.models.FrameSpottingGECN`) on long crops of any dataset's
recordings; :class:`SpottingWindows` turns them into labelled windows (with
a ``background`` class) to train a clip classifier instead;
:class:`Spotter` runs that classifier over a long sequence, offline or as
frames arrive, and returns :class:`Detection` segments;
:func:`spotting_scores` evaluates them (and :func:`smg_online_scores` with
the SMG authors' own rule).
"""
from topogcn.spotting.metrics import match_detections, smg_online_scores, spotting_scores
from topogcn.spotting.inference import spot_files, spot_split, write_detections
from topogcn.spotting.spotter import Detection, Spotter, temporal_nms
from topogcn.spotting.frame_training import train_frames
from topogcn.datasets.windows import BACKGROUND, SpottingWindows, temporal_iou

__all__ = ["BACKGROUND", "Detection", "Spotter", "SpottingWindows", "match_detections",
           "spot_files", "spot_split", "spotting_scores", "smg_online_scores", "temporal_iou",
           "temporal_nms", "train_frames",
           "write_detections"]
