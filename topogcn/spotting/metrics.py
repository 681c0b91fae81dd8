"""Spotting evaluation: detections against labelled segments."""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

from topogcn.io import Segment
from topogcn.spotting.spotter import Detection
from topogcn.datasets.windows import temporal_iou


def match_detections(detections: Sequence[Detection], segments: Sequence[Segment],
                     iou_threshold: float) -> int:
    """The number of true positives in one recording: detections, best score
    first, are matched to the not yet matched segment of the same class with
    the highest temporal IoU, if that IoU is :math:`\\geq` ``iou_threshold``."""
    used = [False] * len(segments)
    tp = 0
    for d in sorted(detections, key=lambda d: -d.score):
        best, best_iou = -1, iou_threshold
        for k, g in enumerate(segments):
            if used[k] or g.label != d.label:
                continue
            iou = temporal_iou(d.start, d.end, g.start, g.end)
            if iou >= best_iou:
                best, best_iou = k, iou
        if best >= 0:
            used[best] = True
            tp += 1
    return tp


def spotting_scores(results: Iterable[Tuple[Sequence[Detection], Sequence[Segment]]],
                    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7)) -> Dict[str, float]:
    """Precision, recall and F1 over recordings, at each temporal-IoU
    threshold: a detection is correct when its class is that of a segment
    it overlaps with IoU :math:`\\geq` the threshold (each segment matched at
    most once).  Keys ``precision@0.5``, ``recall@0.5``, ``f1@0.5``, ...,
    ``detections`` and ``segments``."""
    results = [(list(d), list(s)) for d, s in results]
    n_det = sum(len(d) for d, _ in results)
    n_gt = sum(len(s) for _, s in results)
    out: Dict[str, float] = {"detections": float(n_det), "segments": float(n_gt)}
    for thr in iou_thresholds:
        tp = sum(match_detections(d, s, thr) for d, s in results)
        p = tp / n_det if n_det else 0.0
        r = tp / n_gt if n_gt else 0.0
        out[f"precision@{thr:g}"] = p
        out[f"recall@{thr:g}"] = r
        out[f"f1@{thr:g}"] = 2 * p * r / (p + r) if p + r else 0.0
    return out


def smg_online_scores(results: Iterable[Tuple[Sequence[Detection], Sequence[Segment]]],
                      alpha: float = 0.3) -> Dict[str, float]:
    r"""The online-recognition F1 of the SMG authors' published evaluation
    (``tester_SMG`` in ``online recognition/SMG/THDutils.py`` of
    ``mikecheninoulu/SMG``, the starting kit of the SMG and MiGA online
    track): a labelled segment :math:`g` is recognised when some detection
    :math:`d` of its class overlaps it with

    .. math::
        \frac{\min(e_d, e_g) - \max(s_d, s_g)}{\max(e_d, e_g) - \min(s_d, s_g)}
        > \alpha \quad (\alpha = 0.3)

    (start and end frames as given, so a one-frame overlap of touching
    segments counts 0); recall is the recognised segments over all segments,
    precision the recognised segments over all detections, both summed over
    the recordings, and :math:`F_1 = 2PR / (P + R + 10^{-7})`.  As in that
    code a detection is not used up by a match (its ``numpy.delete`` results
    are discarded), so one detection may recognise several segments.
    Keys ``smg_precision``, ``smg_recall``, ``smg_f1``."""
    correct = n_det = n_gt = 0
    for dets, segs in results:
        dets, segs = list(dets), list(segs)
        n_det, n_gt = n_det + len(dets), n_gt + len(segs)
        for g in segs:
            for d in dets:
                span = max(d.end, g.end) - min(d.start, g.start)
                if d.label == g.label and span > 0 and \
                        (min(d.end, g.end) - max(d.start, g.start)) / span > alpha:
                    correct += 1
                    break
    recall = correct / n_gt if n_gt else 0.0
    precision = correct / n_det if n_det else 0.0
    return {"smg_precision": precision, "smg_recall": recall,
            "smg_f1": 2 * recall * precision / (recall + precision + 1e-7)}


__all__: List[str] = ["match_detections", "spotting_scores", "smg_online_scores"]
