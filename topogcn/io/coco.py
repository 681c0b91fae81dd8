"""COCO-17 keypoints with scores: COCO results, COCO annotation files and
mmpose's saved predictions, one JSON file per recording."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.frames import fill_missing
from topogcn.io.limits import check_frame_indices
from topogcn.io.text import open_text


def _coco_instance(inst: Any, where: str) -> Tuple[np.ndarray, float]:
    """``[17, 3]`` (x, y, score) and the person's score, from one instance:
    mmpose's ``{"keypoints": [[x, y], ...], "keypoint_scores": [...]}`` or
    COCO's ``{"keypoints": [x1, y1, v1, ...], "score": s}``."""
    if not isinstance(inst, dict) or "keypoints" not in inst:
        raise DatasetFormatError(f"{where}: an instance without 'keypoints'")
    try:
        kp = np.asarray(inst["keypoints"], dtype=np.float64)
        if kp.ndim == 2 and kp.shape == (17, 2):  # mmpose: scores apart
            scores = np.asarray(inst.get("keypoint_scores", np.ones(17)), dtype=np.float64)
            kp = np.concatenate([kp, scores.reshape(17, 1)], axis=1)
        elif kp.ndim == 2 and kp.shape == (17, 3):
            pass
        elif kp.ndim == 1 and kp.size == 51:  # COCO: x, y, v triples
            kp = kp.reshape(17, 3).copy()
            if "keypoint_scores" in inst:
                kp[:, 2] = np.asarray(inst["keypoint_scores"], dtype=np.float64).reshape(17)
            elif kp[:, 2].max() > 1:  # COCO visibility flags 0/1/2: visible or not
                kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
        else:
            raise DatasetFormatError(f"{where}: 'keypoints' of shape {list(kp.shape)}; "
                                     f"expected the 17 COCO keypoints ([17, 2] with "
                                     f"'keypoint_scores', [17, 3] or 51 values)")
    except (TypeError, ValueError) as e:
        if isinstance(e, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{where}: keypoints are not numbers: {e}") from None
    if not np.isfinite(kp).all():
        raise DatasetFormatError(f"{where}: NaN or infinite keypoints")
    score = inst.get("score", inst.get("bbox_score", kp[:, 2].mean()))
    if isinstance(score, list):
        score = score[0] if score else 0.0
    return kp.astype(np.float32), float(score)


def read_coco_keypoints(path: str, max_persons: int = 1, missing: str = "zeros") -> np.ndarray:
    """One recording of COCO-17 keypoints with scores as ``[M, T, 17, 3]``
    (x, y, score), from a JSON file in one of these layouts:

    * mmpose's saved predictions: ``{"instance_info": [{"frame_id": t,
      "instances": [{"keypoints": [[x, y] x 17], "keypoint_scores": [...]}]}]}``
      (or the list of those frames);
    * COCO keypoint results: ``[{"image_id": i, "keypoints": [x, y, s, ...],
      "score": s}, ...]``;
    * a COCO annotation file: ``{"images": [...], "annotations":
      [{"image_id": i, "keypoints": [x, y, v, ...]}]}`` (visibility flags
      become 1 for labelled, 0 for not).

    Frames are ``frame_id`` (mmpose) or the rank of ``image_id`` among the
    file's image ids; frames without a person are zeros (or interpolated).
    Persons are sorted by score, the best ``max_persons`` kept."""
    with open_text(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise DatasetFormatError(f"{path}: not valid JSON: {e}") from None
    by_frame: Dict[int, List[Tuple[np.ndarray, float]]] = {}
    if isinstance(doc, dict) and "instance_info" in doc:
        doc = doc["instance_info"]
    if isinstance(doc, dict) and "annotations" in doc:
        items = [(a.get("image_id"), a) for a in doc["annotations"]]
        ids = sorted({img["id"] for img in doc.get("images", [])} | {i for i, _ in items})
        rank = {i: k for k, i in enumerate(ids)}
        for n, (i, a) in enumerate(items):
            by_frame.setdefault(rank[i], []).append(_coco_instance(a, f"{path}, annotation {n}"))
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "instances" in doc[0]:
        for n, fr in enumerate(doc):
            t = fr.get("frame_id", n)
            if isinstance(t, bool) or not isinstance(t, int) or t < 0:
                raise DatasetFormatError(f"{path}, frame entry {n}: frame_id {t!r} is not a "
                                         f"frame number")
            by_frame.setdefault(t, []).extend(
                _coco_instance(inst, f"{path}, frame {t}") for inst in fr["instances"] or [])
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "image_id" in doc[0]:
        ids = sorted({d.get("image_id") for d in doc})
        rank = {i: k for k, i in enumerate(ids)}
        for n, d in enumerate(doc):
            by_frame.setdefault(rank[d.get("image_id")], []).append(
                _coco_instance(d, f"{path}, result {n}"))
    else:
        raise DatasetFormatError(f"{path}: not COCO or mmpose keypoints (expected mmpose's "
                                 f"'instance_info', a list of COCO results with 'image_id' "
                                 f"and 'keypoints', or a COCO file with 'annotations')")
    if not by_frame or not any(by_frame.values()):
        raise DatasetFormatError(f"{path}: no person in any frame")
    frames = {t: path for t in by_frame}
    T = check_frame_indices(frames, path)
    data = np.zeros((max_persons, T, 17, 3), np.float32)
    present = np.zeros((max_persons, T), bool)
    for t, people in by_frame.items():
        people = sorted(people, key=lambda p: -p[1])[:max_persons]
        for m, (kp, _) in enumerate(people):
            data[m, t], present[m, t] = kp, True
    for m in range(max_persons):
        data[m] = fill_missing(data[m], present[m], missing)
    return data
