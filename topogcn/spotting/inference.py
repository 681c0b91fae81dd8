"""Spot with a trained run: over a dataset split or over sequence files."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time
from typing import Any, Dict, List, Sequence, Union

import torch

from topogcn.engine.data import open_dataset
from topogcn.engine.trained_run import Run
from topogcn.io.sequence import SEQUENCE_TYPES, read_sequence
from topogcn.spotting.metrics import smg_online_scores, spotting_scores
from topogcn.spotting.spotter import Detection, Spotter
from topogcn.utils.io import atomic_write_text


def spot_split(checkpoint: Union[str, Run], split: str = "test",
               **spotter_kwargs) -> Dict[str, Any]:
    """Spot every recording of ``split`` of the run's dataset and score the
    detections against its labelled segments (:func:`spotting_scores`, and
    the SMG authors' online F1, :func:`smg_online_scores`).
    Returns ``scores``, ``detections`` (recording -> list), ``frames`` and
    ``seconds`` (wall time of spotting, for frames per second)."""
    run = Run.of(checkpoint)
    spotter = Spotter.from_run(run, **spotter_kwargs)
    data = dataclasses.replace(run.config.data, window=None)  # recordings, not windows
    ds = open_dataset(data, split)
    results, detections, frames = [], {}, 0
    start = time.perf_counter()
    for rec in ds.recordings():
        dets = spotter.spot(rec.data)
        detections[rec.name] = dets
        results.append((dets, rec.segments))
        frames += rec.data.size(1)
    seconds = time.perf_counter() - start
    scores = {**spotting_scores(results), **smg_online_scores(results)}
    return {"scores": scores, "detections": detections, "frames": frames, "seconds": seconds}


def spot_files(checkpoint: Union[str, Run], paths: Sequence[str], **spotter_kwargs
               ) -> Dict[str, List[Detection]]:
    """Spot the sequences in ``paths`` (files read by
    :func:`~topogcn.io.read_sequence`, or folders of them)."""
    spotter = Spotter.from_run(Run.of(checkpoint), **spotter_kwargs)
    files: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p)
                            if f.lower().endswith(SEQUENCE_TYPES))
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError(f"no sequence file (.npy, .npz, .csv, .skeleton) in {list(paths)}")
    out = {}
    for f in files:
        x = torch.from_numpy(read_sequence(f, spotter.spec.num_nodes,
                                           spotter.spec.num_channels))
        try:
            out[f] = spotter.spot(x)
        except ValueError as e:
            raise ValueError(f"{f}: {e}") from None
    return out


def write_detections(detections: Dict[str, List[Detection]], path: str) -> None:
    """Write detections as JSON (``{recording: [{start, end, label, score,
    name}, ...]}``) or, for a ``.csv`` path, one row per detection; atomically."""
    if path.lower().endswith(".csv"):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["recording", "start_frame", "end_frame", "label", "name", "score"])
        for rec, dets in detections.items():
            for d in dets:
                w.writerow([rec, d.start, d.end, d.label, d.name, f"{d.score:.4f}"])
        text = buf.getvalue()
    else:
        text = json.dumps({rec: [d.to_dict() for d in dets] for rec, dets in detections.items()},
                          indent=1) + "\n"
    atomic_write_text(path, text)
