"""Does the default recipe learn on data it was not tuned for?

Runs ``topogcn train`` with the default recipe and no recipe override on
each dataset below (only the dataset is chosen), one after the other in this
process, and tabulates GE-CN's test top-1 beside the linear baseline the run
reports itself (a logistic regression on the same preprocessed clips), the
chance level, the epochs the budget gave and the training time:

* ``synthetic``: the built-in synthetic micro-gestures (ntu25, 3D);
* ``synthetic-hands``: the second generator (a 21-joint hand, 2D +
  confidence, missing detections, left and right hands);
* ``synthetic`` on ``openpose137_upper`` (upper body and both hands of the
  OpenPose output, 54 joints) and on ``coco17``;
* with ``--spotting``: on the recordings of three generators (the built-in
  one, the hands, and ``synthetic-varied``: gestures of 12 to 80 frames,
  dense, restless idling), the default spotting recipe (``--config
  synthetic-spotting``: a class for every frame), the linear frame
  classifier that run reports beside it, and the window classifier it
  replaced (``--config synthetic-spotting-windows``, then ``topogcn
  spot``): F1 at temporal IoU 0.3, 0.5 and 0.7, precision and recall at 0.5,
  and the SMG authors' online F1;
* with ``--longtail``: the long-tailed synthetic variant (10 to 1 clips per
  class and subject, in every split) on ntu25 and coco17, with the default
  recipe as it is and with each long-tail option (square-root or inverse
  class weights in the loss, class-balanced sampling): top-1, mean class
  accuracy and the accuracy of the three rarest classes.

Epochs are counted from 1; "stopped by" says whether the run ended with its
plan, by early stopping or by the time limit (then not the recipe's result).

Usage: ``python benchmarks/bench_defaults.py [--only NAME ...] [--spotting]
[--longtail] [--skip-classification]``; writes
``benchmarks/results/bench_defaults.{json,md,csv}`` (and
``bench_defaults_spotting.*``, ``bench_defaults_longtail.*``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402

from topogcn.engine.config import load_config  # noqa: E402
from topogcn.engine.data import build_dataset  # noqa: E402
from topogcn.engine.training import train  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results")

DATASETS = {
    # name: overrides that choose the data (never the recipe)
    "synthetic": [],
    "synthetic-hands": ["data.name=synthetic-hands"],
    "synthetic/openpose137_upper": ["data.skeleton=openpose137_upper"],
    "synthetic/coco17": ["data.skeleton=coco17"],
}
#: 10, 8, 6, 5, 4, 3, 2, 2, 1, 1 clips of the 10 classes per subject
LONGTAIL_DATA = ["data.options={imbalance: 10, gestures_per_class: 10}"]
LONGTAIL = {
    # name: overrides (the data, then the long-tail option of the recipe)
    "ntu25": LONGTAIL_DATA,
    "ntu25, sqrt weights": LONGTAIL_DATA + ["loss.class_weights=sqrt"],
    "ntu25, inverse weights": LONGTAIL_DATA + ["loss.class_weights=inverse"],
    "ntu25, balanced sampling": LONGTAIL_DATA + ["data.class_sampling=inverse"],
    "coco17": LONGTAIL_DATA + ["data.skeleton=coco17"],
    "coco17, sqrt weights": LONGTAIL_DATA + ["data.skeleton=coco17", "loss.class_weights=sqrt"],
    "coco17, inverse weights": LONGTAIL_DATA + ["data.skeleton=coco17",
                                                "loss.class_weights=inverse"],
    "coco17, balanced sampling": LONGTAIL_DATA + ["data.skeleton=coco17",
                                                  "data.class_sampling=inverse"],
}
SPOTTING = {
    "synthetic": [],
    "synthetic-hands": ["data.name=synthetic-hands"],
    "synthetic-varied": ["data.name=synthetic-varied"],
}


def classify(name: str, overrides, workdir: str) -> dict:
    cfg = load_config("synthetic", overrides + ["trainer.progress_bar=false"])
    start = time.time()
    m = train(cfg, os.path.join(workdir, name.replace("/", "-").replace(", ", "-")
                                .replace(" ", "-"))).metrics
    base = m["baselines"]
    counts = torch.bincount(build_dataset(cfg.data, "train").labels,
                            minlength=len(m["classes"]))
    rarest = counts.argsort(stable=True)[:3].tolist()
    per_class = list(m["per_class_accuracy"].values())
    return {"dataset": name, "top1": m["top1"], "mean_class": m["mean_class_accuracy"],
            "rarest3": sum(per_class[c] for c in rarest) / 3,
            "train_counts": counts.tolist(), "linear": base["linear"],
            "chance": base["chance"], "margin": m["top1"] - base["linear"],
            "epochs": m["epoch"], "best_epoch": m["budget"]["best_epoch"],
            "stopped_by": m["budget"]["stopped_by"], "num_train": m["num_train"],
            "num_val": m["num_val"], "num_test": m["num_test"],
            "train_time_s": m["train_time_s"], "total_time_s": round(time.time() - start, 1)}


def _finished(out: str):
    """The metrics of a finished run in ``out`` (a ``--workdir`` kept), or None."""
    done = os.path.join(out, "metrics.json")
    if not os.path.isfile(done):
        return None
    with open(done) as f:
        return json.load(f)


def _spot_row(name: str, method: str, s: dict, **extra) -> dict:
    return {"dataset": name, "method": method, **{k: s[k] for k in (
        "f1@0.3", "f1@0.5", "f1@0.7", "precision@0.5", "recall@0.5")},
        "smg_f1": s.get("smg_f1"), **extra}


def spotting_frames(name: str, overrides, workdir: str) -> list:
    """The frame-level recipe and the linear frame baseline it reports, on
    one generator's recordings (a run finished in ``workdir`` is read, not
    retrained)."""
    from topogcn.spotting import train_frames

    out = os.path.join(workdir, "spot-frames-" + name)
    m = _finished(out) or train_frames(load_config("synthetic-spotting", overrides + [
        "trainer.progress_bar=false"]), out).metrics
    b = m["budget"]
    lin = m["baselines"]["linear_frames"]
    return [_spot_row(name, "frames (default)", m["scores"], budget=f"{b['steps_run']} steps",
                      stopped_by=b["stopped_by"], train_time_s=m["train_time_s"]),
            _spot_row(name, "linear frames", lin, budget="-", stopped_by="-",
                      train_time_s=lin["time_s"])]


def spotting_windows(name: str, overrides, workdir: str) -> list:
    """The window classifier (``synthetic-spotting-windows``) then ``topogcn
    spot`` on the test recordings (a run finished in ``workdir`` is spotted
    again, not retrained)."""
    from topogcn.spotting import spot_split

    out = os.path.join(workdir, "spot-windows-" + name)
    m = _finished(out) or train(load_config("synthetic-spotting-windows", overrides + [
        "trainer.progress_bar=false"]), out).metrics
    s = spot_split(os.path.join(out, "checkpoints", "best.ckpt"), "test")["scores"]
    return [_spot_row(name, "windows", s, budget=f"{m['epoch']} epochs",
                      stopped_by=m["budget"]["stopped_by"], train_time_s=m["train_time_s"])]


def _pc(value: float) -> str:
    return f"{100 * value:.1f}%"


def _save(name: str, meta: dict, rows, columns) -> str:
    """Write ``rows`` as ``RESULTS/name`` and its table; ``columns``:
    ``(header, cell of a row)``."""
    body = [[cell(r) for _, cell in columns] for r in rows]
    return results_io.save(os.path.join(RESULTS, name), meta, rows, [h for h, _ in columns],
                           body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="dataset names to run (default: all)")
    p.add_argument("--spotting", action="store_true", help="also the spotting recipe")
    p.add_argument("--longtail", action="store_true",
                   help="also the long-tailed variant with each long-tail option")
    p.add_argument("--skip-classification", action="store_true",
                   help="not the balanced classification table (with --spotting or --longtail)")
    p.add_argument("--workdir", help="keep the run folders here (default: a temporary folder); "
                   "spotting runs already finished there are spotted again, not retrained")
    args = p.parse_args()
    meta = {"machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "recipe": "default (topogcn train with no --config)"}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or tmp
        suffix = "" if not args.only else "_" + "_".join(x.replace("/", "-") for x in args.only)
        if not args.skip_classification:
            rows = [classify(n, o, work) for n, o in DATASETS.items()
                    if not args.only or n in args.only]
            print(_save(f"bench_defaults{suffix}.json", meta, rows, [
                ("data", lambda r: r["dataset"]), ("GE-CN top-1", lambda r: _pc(r["top1"])),
                ("linear", lambda r: _pc(r["linear"])), ("chance", lambda r: _pc(r["chance"])),
                ("margin", lambda r: f"{100 * r['margin']:+.1f}"),
                ("epochs (best)", lambda r: f"{r['epochs']} ({r['best_epoch'] or '-'})"),
                ("stopped by", lambda r: r["stopped_by"].replace("_", " ")),
                ("train clips", lambda r: r["num_train"]),
                ("train time", lambda r: f"{r['train_time_s']:.0f} s")]))
        if args.longtail:
            rows = [classify(n, o, work) for n, o in LONGTAIL.items()]
            print(_save("bench_defaults_longtail.json", meta, rows, [
                ("data, option", lambda r: r["dataset"]),
                ("top-1", lambda r: _pc(r["top1"])),
                ("mean class", lambda r: _pc(r["mean_class"])),
                ("3 rarest", lambda r: _pc(r["rarest3"])),
                ("linear top-1", lambda r: _pc(r["linear"])),
                ("epochs (best)", lambda r: f"{r['epochs']} ({r['best_epoch'] or '-'})"),
                ("stopped by", lambda r: r["stopped_by"].replace("_", " ")),
                ("train clips", lambda r: r["num_train"]),
                ("train time", lambda r: f"{r['train_time_s']:.0f} s")]))
        if args.spotting:
            meta = {**meta, "recipe": "synthetic-spotting (frames, and its linear frame "
                    "baseline), synthetic-spotting-windows (windows); only data.name set"}
            names = [n for n in SPOTTING if not args.only or n in args.only]
            # every frame-level run first, then the (longer) window baselines; the table
            # is written after every run
            done: dict = {n: [] for n in names}
            for runner in (spotting_frames, spotting_windows):
                for n in names:
                    done[n] += runner(n, SPOTTING[n], work)
                    rows = [r for m in names for r in done[m]]
                    print(_save(f"bench_defaults_spotting{suffix}.json", meta, rows, [
                        ("recordings", lambda r: r["dataset"]),
                        ("method", lambda r: r["method"]),
                        ("F1 @0.5", lambda r: _pc(r["f1@0.5"])),
                        ("P @0.5", lambda r: _pc(r["precision@0.5"])),
                        ("R @0.5", lambda r: _pc(r["recall@0.5"])),
                        ("F1 @0.3", lambda r: _pc(r["f1@0.3"])),
                        ("F1 @0.7", lambda r: _pc(r["f1@0.7"])),
                        ("SMG online F1", lambda r: _pc(r["smg_f1"])),
                        ("budget", lambda r: r["budget"]),
                        ("stopped by", lambda r: r["stopped_by"].replace("_", " ")),
                        ("train time", lambda r: f"{r['train_time_s']:.0f} s")]), flush=True)

if __name__ == "__main__":
    main()
