"""Spotting speed: input frames per second of ``topogcn.spotting.Spotter``
over a long recording, against the 30 frames/s of a Kinect stream.

For each skeleton (ntu25 with 2 persons, openpose137 with 1), each method
and each model size it slides the windows of the matching spotting
configuration over a random recording and times ``Spotter.spot`` (windows
batched through the model in eval mode, per-frame probabilities, segments,
NMS) after one warm-up run:

* method ``frames``: :class:`~topogcn.models.FrameSpottingGECN` (a class for
  every frame) on 128-frame windows every 32 frames
  (``topogcn/configs/synthetic-spotting.yaml``), smoothing 9;
* method ``windows``: the GE-CN clip classifier, on 32-frame windows every
  8 frames for the compact model
  (``topogcn/configs/synthetic-spotting-windows.yaml``), 64 every 16 for the
  paper-size one (``benchmarks/configs/gecn_spotting-*.yaml``);
* ``compact``: the default synthetic model (3 blocks, 32/32/64 channels);
  ``paper``: the paper-size model (9 blocks, 64..256 channels);

each in float32 and with ``Spotter(precision="bf16")`` (bfloat16 autocast).

With ``--stream RUN_DIR ...`` (trained spotting runs, e.g. those
``bench_defaults.py --spotting --workdir`` keeps), each run's test
recordings are streamed one frame at a time (``Spotter.push``, then
``flush``): the streaming frames per second, and for every detection how
many frames after its last frame it was returned (mean and largest; the
delay depends on the windows, stride and smoothing, not on the model's
size).

Weights are random: the cost does not depend on them.  Usage:
``python benchmarks/bench_spotting.py [--frames 1200] [--repeats 2]``,
``python benchmarks/bench_spotting.py --stream RUN_DIR ...`` (writes
``bench_spotting_stream.*``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402

from topogcn.models import GECN, FrameSpottingGECN  # noqa: E402
from topogcn.spotting import Spotter  # noqa: E402
from topogcn.datasets.windows import BACKGROUND  # noqa: E402

KINECT_FPS = 30.0
SIZES = {"compact": dict(channels=[32, 32, 64], strides=[1, 2, 1]), "paper": dict()}
#: (method, size) -> (window length, window stride)
WINDOWS = {("frames", "compact"): (128, 32), ("frames", "paper"): (128, 32),
           ("windows", "compact"): (32, 8), ("windows", "paper"): (64, 16)}
SKELETONS = {"ntu25": 2, "openpose137": 1}


def measure(skeleton: str, size: str, method: str, frames: int, repeats: int,
            precision: str = "32") -> dict:
    length, stride = WINDOWS[(method, size)]
    M = SKELETONS[skeleton]
    torch.manual_seed(0)
    num_classes = 17
    if method == "frames":
        model = FrameSpottingGECN(num_classes + 1, skeleton, in_channels=3, num_person=M,
                                  **SIZES[size]).eval()
    else:
        model = GECN(num_classes + 1, skeleton, in_channels=3, num_person=M,
                     **SIZES[size]).eval()
    classes = [f"class{i}" for i in range(num_classes)] + [BACKGROUND]
    spotter = Spotter(model, classes, length=length, stride=stride, precision=precision,
                      smoothing=9 if method == "frames" else 1)
    recording = torch.randn(M, frames, model.skeleton.num_nodes, 3)
    spotter.spot(recording[:, : 4 * length])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        spotter.spot(recording)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"skeleton": skeleton, "size": size, "method": method, "precision": precision,
            "window": length, "stride": stride,
            "frames": frames, "seconds": best, "frames_per_s": frames / best,
            "real_time_factor": frames / best / KINECT_FPS}


def stream(run_dir: str) -> dict:
    """Stream the test recordings of a trained spotting run one frame at a
    time: frames per second and the delay of every detection."""
    import dataclasses

    from topogcn.engine import Run
    from topogcn.engine.data import open_dataset

    run = Run.load(os.path.join(run_dir, "checkpoints", "best.ckpt"))
    spotter = Spotter.from_run(run)
    data = dataclasses.replace(run.config.data, window=None)
    delays, frames, seconds = [], 0, 0.0
    for rec in open_dataset(data, "test").recordings():
        x = rec.data
        spotter.reset()
        t0 = time.perf_counter()
        for t in range(x.size(1)):
            delays += [t - d.end for d in spotter.push(x[:, t:t + 1])]
        delays += [x.size(1) - 1 - d.end for d in spotter.flush()]
        seconds += time.perf_counter() - t0
        frames += x.size(1)
    return {"run": os.path.basename(os.path.normpath(run_dir)),
            "method": run.config.spotting.method, "window": spotter.length,
            "stride": spotter.stride, "smoothing": spotter.smoothing, "frames": frames,
            "frames_per_s": frames / seconds, "real_time_factor": frames / seconds / KINECT_FPS,
            "detections": len(delays), "delay_mean": sum(delays) / max(1, len(delays)),
            "delay_max": max(delays) if delays else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1200, help="recording length")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "bench_spotting.json"))
    ap.add_argument("--stream", nargs="*", metavar="RUN_DIR",
                    help="trained spotting runs to stream (their test recordings)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cores": os.cpu_count()}
    if args.stream:
        rows = [stream(d) for d in args.stream]
        header = ["run", "method", "window / stride", "smoothing", "frames streamed",
                  "frames/s", "x real time (30 fps)", "detections",
                  "delay (frames, mean / max)", "largest delay at 30 fps"]
        body = [[r["run"], r["method"], f"{r['window']} / {r['stride']}", r["smoothing"],
                 r["frames"], f"{r['frames_per_s']:.0f}", f"{r['real_time_factor']:.1f}",
                 r["detections"], f"{r['delay_mean']:.0f} / {r['delay_max']}",
                 f"{r['delay_max'] / KINECT_FPS:.1f} s"] for r in rows]
        print(results_io.save(args.out.replace(".json", "_stream.json"), meta, rows, header,
                              body))
        return
    rows = []
    for skeleton in SKELETONS:
        for method, size in WINDOWS:
            for precision in ("32", "bf16"):
                row = measure(skeleton, size, method, args.frames, args.repeats, precision)
                rows.append(row)
                print(f"{skeleton:12s} {method:8s} {size:8s} {precision:4s} window "
                      f"{row['window']:3d}/"
                      f"{row['stride']:2d}: "
                      f"{row['frames_per_s']:8.1f} frames/s ({row['real_time_factor']:.1f}x "
                      f"real time at {KINECT_FPS:.0f} fps)", flush=True)
    header = ["skeleton", "method", "model", "precision", "window / stride", "input frames/s",
              "x real time (30 fps)"]
    body = [[r["skeleton"], r["method"], r["size"],
             "float32" if r["precision"] == "32" else "bf16 autocast",
             f"{r['window']} / {r['stride']}",
             f"{r['frames_per_s']:.0f}", f"{r['real_time_factor']:.1f}"] for r in rows]
    print(results_io.save(args.out, meta, rows, header, body))


if __name__ == "__main__":
    main()
