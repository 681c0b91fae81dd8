"""Mixed precision on CPU: accuracy and training time of the default recipe
in float32 (``trainer.precision: 32-true``) and bfloat16 mixed precision
(``bf16-mixed``, ``torch.autocast`` with bfloat16 matrix products and
convolutions, float32 weights), on both built-in generators, two seeds each,
one run after the other in this process.

Usage: ``python benchmarks/bench_precision.py [--seeds 0 1]``; writes
``benchmarks/results/bench_precision.{json,md,csv}`` (``--tables-only``
rewrites the tables from the JSON).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402
from bench_defaults import RESULTS, _pc, _save, classify  # noqa: E402

NAME = "bench_precision.json"

DATASETS = {"synthetic": [], "synthetic-hands": ["data.name=synthetic-hands"]}
PRECISIONS = ("32-true", "bf16-mixed")


def save(meta: dict, rows) -> str:
    fp, bf = PRECISIONS
    return _save(NAME, meta, rows, [
        ("data", lambda r: r["dataset"]), ("seed", lambda r: r["seed"]),
        ("float32 top-1", lambda r: _pc(r[fp]["top1"])),
        ("bf16-mixed top-1", lambda r: _pc(r[bf]["top1"])),
        ("linear", lambda r: _pc(r[fp]["linear"])),
        ("float32 train", lambda r: f"{r[fp]['train_time_s']:.0f} s ({r[fp]['epochs']} ep.)"),
        ("bf16-mixed train", lambda r: f"{r[bf]['train_time_s']:.0f} s ({r[bf]['epochs']} ep.)"),
        ("speed-up", lambda r: f"{r[fp]['train_time_s'] / r[bf]['train_time_s']:.2f}x")])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--tables-only", action="store_true",
                   help="rewrite the .md/.csv tables from results/bench_precision.json")
    args = p.parse_args()
    if args.tables_only:
        res = results_io.load(os.path.join(RESULTS, NAME))
        print(save(res["meta"], res["rows"]))
        return
    meta = {"machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "recipe": "default (topogcn train with no --config)"}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, overrides in DATASETS.items():
            for seed in args.seeds:
                row = {"dataset": name, "seed": seed}
                for prec in PRECISIONS:
                    r = classify(f"{name}-{seed}-{prec}", overrides + [
                        f"seed={seed}", f"trainer.precision={prec}"], work)
                    row[prec] = {k: r[k] for k in ("top1", "linear", "epochs", "train_time_s")}
                    print(f"{name:16s} seed {seed} {prec:10s} top-1 {100 * r['top1']:.2f}%  "
                          f"{r['train_time_s']:.0f} s", flush=True)
                rows.append(row)
    print(save(meta, rows))


if __name__ == "__main__":
    main()
