"""COCO-17 keypoints with scores: COCO results, COCO annotation files and
mmpose's saved predictions, one JSON file per recording."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from topogcn.io.errors import DatasetFormatError
from topogcn.io.frames import fill_missing
from topogcn.io.limits import check_frame_indices
from topogcn.io.json_values import kind, load_json, numbers


def _score(value: Any, where: str, default: float) -> float:
    """A person's score: a number (or a list whose first element is one, as
    mmpose writes ``bbox_score``)."""
    if isinstance(value, list) and value:
        value = value[0]
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not np.isfinite(value):
        raise DatasetFormatError(f"{where}: the score must be a finite number, got "
                                 f"{kind(value)}")
    return float(value)


def _coco_instance(inst: Any, where: str) -> Tuple[np.ndarray, float]:
    """``[17, 3]`` (x, y, score) and the person's score, from one instance:
    mmpose's ``{"keypoints": [[x, y], ...], "keypoint_scores": [...]}`` or
    COCO's ``{"keypoints": [x1, y1, v1, ...], "score": s}``."""
    if not isinstance(inst, dict) or "keypoints" not in inst:
        raise DatasetFormatError(f"{where}: expected an object with 'keypoints', got "
                                 f"{kind(inst)}")
    raw = inst["keypoints"]
    scores = inst.get("keypoint_scores")
    if isinstance(raw, list) and raw and isinstance(raw[0], list):  # [[x, y(, s)] x 17]
        width = len(raw[0])
        if width not in (2, 3):
            raise DatasetFormatError(f"{where}: 'keypoints' rows of {width} values; expected "
                                     f"[17, 2] with 'keypoint_scores' or [17, 3]")
        kp = numbers(raw, f"{where}: keypoints", (17, width))
        if width == 2:
            s = np.ones(17) if scores is None else \
                numbers(scores, f"{where}: keypoint_scores", (17,))
            kp = np.concatenate([kp, s.reshape(17, 1)], axis=1)
    else:  # COCO: 51 values, x, y, v triples
        kp = numbers(raw, f"{where}: keypoints", (17, 3)).copy()
        if scores is not None:
            kp[:, 2] = numbers(scores, f"{where}: keypoint_scores", (17,))
        elif kp[:, 2].max() > 1:  # COCO visibility flags 0/1/2: visible or not
            kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
    score = _score(inst.get("score", inst.get("bbox_score")), where, float(kp[:, 2].mean()))
    return kp.astype(np.float32), score


def _frame_ranks(ids: List[Any], where: str) -> Dict[Any, int]:
    """Image id -> frame number (its rank); ids must be all numbers or all
    names."""
    if any(i is None for i in ids):
        raise DatasetFormatError(f"{where}: an entry has no 'image_id'")
    if not (all(isinstance(i, int) and not isinstance(i, bool) for i in ids) or
            all(isinstance(i, str) for i in ids)):
        raise DatasetFormatError(f"{where}: image ids must be all numbers or all names, got "
                                 f"{sorted({kind(i) for i in ids})}")
    return {i: k for k, i in enumerate(sorted(set(ids)))}


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
    doc = load_json(path, "COCO / mmpose keypoint")
    by_frame: Dict[int, List[Tuple[np.ndarray, float]]] = {}
    if isinstance(doc, dict) and "instance_info" in doc:
        doc = doc["instance_info"]
    if isinstance(doc, dict) and "annotations" in doc:
        annotations, images = doc["annotations"], doc.get("images", [])
        if not isinstance(annotations, list) or not isinstance(images, list):
            raise DatasetFormatError(f"{path}: 'annotations' and 'images' must be lists")
        for n, a in enumerate(annotations):
            if not isinstance(a, dict):
                raise DatasetFormatError(f"{path}, annotation {n}: expected an object, got "
                                         f"{kind(a)}")
        for n, img in enumerate(images):
            if not isinstance(img, dict) or "id" not in img:
                raise DatasetFormatError(f"{path}, image {n}: expected an object with 'id'")
        rank = _frame_ranks([img["id"] for img in images] +
                            [a.get("image_id") for a in annotations], path)
        for n, a in enumerate(annotations):
            by_frame.setdefault(rank[a["image_id"]], []).append(
                _coco_instance(a, f"{path}, annotation {n}"))
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "instances" in doc[0]:
        for n, fr in enumerate(doc):
            if not isinstance(fr, dict):
                raise DatasetFormatError(f"{path}, frame entry {n}: expected an object, got "
                                         f"{kind(fr)}")
            t = fr.get("frame_id", n)
            if isinstance(t, bool) or not isinstance(t, int) or t < 0:
                raise DatasetFormatError(f"{path}, frame entry {n}: frame_id {t!r} is not a "
                                         f"frame number")
            instances = fr.get("instances") or []
            if not isinstance(instances, list):
                raise DatasetFormatError(f"{path}, frame {t}: 'instances' must be a list, got "
                                         f"{kind(instances)}")
            by_frame.setdefault(t, []).extend(
                _coco_instance(inst, f"{path}, frame {t}") for inst in instances)
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "image_id" in doc[0]:
        for n, d in enumerate(doc):
            if not isinstance(d, dict):
                raise DatasetFormatError(f"{path}, result {n}: expected an object, got "
                                         f"{kind(d)}")
        rank = _frame_ranks([d.get("image_id") for d in doc], path)
        for n, d in enumerate(doc):
            by_frame.setdefault(rank[d["image_id"]], []).append(
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
