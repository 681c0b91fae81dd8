"""float32 gradients of a GE-CN training step against float64, same weights
and input, latent noise fixed at zero: the relative L2 distance of all
parameter gradients (concatenated) of

* ``topogcn``: the library's network with PyTorch's batch-norm kernel (the
  default);
* ``topogcn, accurate BN``: with ``trainer.accurate_batch_norm`` (accurate
  batch-norm statistics, :class:`topogcn.nn.norm.AccurateBatchNorm2d`);
* ``reference``: the plain reference formulation of ``bench_model.py``
  (InfoGCN as written: channels-first tensors, contiguous batch norms), with
  the same weights, against its own float64 run;

and the float64 gradients' own sensitivity ("float64 floor"): how far they
move when the input is multiplied by ``1 + 2^-24 e`` (``e`` standard normal:
about one float32 rounding of each coordinate; the median of three draws).
A float32 computation rounds every intermediate value at least that much,
so gradients that move by ``s`` under this perturbation cannot be expected
much closer to float64 than ``s``: the network's ReLUs and max-pooling make
the gradient a discontinuous function of its input.

Paper-size GE-CN (9 blocks, 64-256 channels), ntu25, 2 persons, 60 classes,
batch 8 x 32 frames; per seed, fresh weights and two inputs: standard
normal coordinates and clips of the built-in synthetic data (preprocessed as
the default recipe does, 1 person padded to 2).

With ``--step-time N``, also what the option costs: paper-size training
steps (batch 32 x 64 frames, SGD) of the reference formulation, topogcn and
topogcn with accurate BN, in one process, N steps each in ABCCBA order (the
per-process rounds of ``bench_model.py`` drift by more than the difference),
written to ``bench_numerics_step_time.{md,csv}``.

With ``--recipe SEED ...``, instead, what the option does to the default
recipe (``topogcn train`` with only ``data.name`` and the seed set) on the
two built-in generators: every run in its own process, with and without
the option in turn (the order alternating between seeds), its test top-1,
epochs (the best one tested), training time and the ratio of the training
times per epoch (a run the budget extends trains more epochs), written to
``bench_numerics_recipe.{json,md,csv}``.

Usage: ``python benchmarks/bench_numerics.py [--seeds 0 1 2 3 4 5 6 7] [--step-time N]``;
writes ``benchmarks/results/bench_numerics.{json,md,csv}``;
``python benchmarks/bench_numerics.py --recipe 0 1 2 3``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from unittest import mock

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402
from bench_model import PlainInfoGCN, alternate, copy_weights  # noqa: E402

from topogcn.engine import build_dataset, load_config  # noqa: E402
from topogcn.models import GECN  # noqa: E402
from topogcn.nn.functional.tuning import tuned  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "bench_numerics.json")
BATCH, FRAMES, CLASSES, PERSONS = 8, 32, 60, 2
NUDGES = 3
COLUMNS = ("topogcn", "topogcn, accurate BN", "reference", "float64 floor")
TIMED = ("plain", "topogcn", "topogcn+accurate-bn")


def gradients(model, x, y) -> torch.Tensor:
    """All parameter gradients of one cross-entropy step, concatenated, in
    float64; latent noise fixed at zero."""
    model.train().zero_grad()
    with mock.patch.object(torch, "randn_like", torch.zeros_like):
        F.cross_entropy(model(x), y).backward()
    return torch.cat([p.grad.flatten().double() for p in model.parameters()
                      if p.grad is not None])


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def synthetic_clips(seed: int) -> torch.Tensor:
    """``BATCH`` preprocessed clips of the built-in data, ``[N, 2, T, V, 3]``."""
    ds = build_dataset(load_config("synthetic", [f"data.frames={FRAMES}"]).data, "train")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:BATCH].tolist()
    clips = torch.stack([torch.as_tensor(ds[i][0], dtype=torch.float32) for i in idx])
    pad = PERSONS - clips.size(1)
    return torch.cat([clips, clips.new_zeros(clips.size(0), pad, *clips.shape[2:])], dim=1)


def measure(seed: int, kind: str) -> dict:
    torch.manual_seed(seed)
    model = GECN(CLASSES, "ntu25", num_person=PERSONS, noise_ratio=0.1)
    x = (torch.randn(BATCH, PERSONS, FRAMES, 25, 3) if kind == "gaussian"
         else synthetic_clips(seed))
    y = torch.arange(BATCH) % CLASSES
    exact = gradients(copy.deepcopy(model).double(), x.double(), y)
    row = {"seed": seed, "input": kind}
    with tuned(accurate_batch_norm=False):
        row["topogcn"] = distance(gradients(copy.deepcopy(model), x, y), exact)
    with tuned(accurate_batch_norm=True):
        row["topogcn, accurate BN"] = distance(gradients(copy.deepcopy(model), x, y), exact)
    plain = copy_weights(PlainInfoGCN(CLASSES, 25, PERSONS), model)
    row["reference"] = distance(gradients(copy.deepcopy(plain), x, y),
                                gradients(copy.deepcopy(plain).double(), x.double(), y))
    g = torch.Generator().manual_seed(1000 + seed)
    moved = []
    for _ in range(NUDGES):
        e = torch.randn(x.shape, generator=g, dtype=torch.float64)
        moved.append(distance(gradients(copy.deepcopy(model).double(),
                                        x.double() * (1 + 2.0 ** -24 * e), y), exact))
    row["float64 floor"] = statistics.median(moved)
    return row


KINDS = ("gaussian", "synthetic")


def medians(rows) -> dict:
    """Per input kind, the median of every column."""
    return {kind: {c: statistics.median(r[c] for r in rows if r["input"] == kind)
                   for c in COLUMNS} for kind in KINDS}


def save(out: str, meta: dict, rows) -> str:
    med = medians(rows)
    meta = dict(meta, median=med, accurate_at_or_below_reference=sum(
        r["topogcn, accurate BN"] <= r["reference"] for r in rows))
    body = [[r["seed"], r["input"]] + [f"{r[c]:.1e}" for c in COLUMNS] for r in rows]
    body += [["median", kind] + [f"{med[kind][c]:.1e}" for c in COLUMNS] for kind in KINDS]
    table = results_io.save(out, meta, rows, ["seed", "input"] + list(COLUMNS), body)
    if meta.get("step_time"):
        table += "\n\n" + results_io.save_table(
            os.path.splitext(out)[0] + "_step_time", *step_time_table(meta["step_time"]))
    return table


def step_time_table(run: dict):
    """Median seconds per step and the ratio to the reference formulation."""
    med = {impl: statistics.median(run["step_s"][impl]) for impl in TIMED}
    names = {"plain": "reference", "topogcn": "topogcn",
             "topogcn+accurate-bn": "topogcn, accurate BN"}
    body = [[names[impl], str(len(run["step_s"][impl])), f"{med[impl]:.2f}",
             f"{med['plain'] / med[impl]:.2f}x", f"{med[impl] / med['topogcn']:.3f}"]
            for impl in TIMED]
    return ["network", "steps", "s/step", "speed vs reference", "time vs topogcn"], body


RECIPE_DATA = ("synthetic", "synthetic-hands")


def recipe_run(data: str, seed: int, accurate: bool, workdir: str) -> dict:
    """One default-recipe run in its own process: its test top-1, epochs,
    best epoch and training time."""
    out = os.path.join(workdir, f"{data}-{seed}-{int(accurate)}")
    cmd = [sys.executable, "-m", "topogcn.cli", "train", "--out", out, "--set",
           f"data.name={data}", f"seed={seed}",
           f"trainer.accurate_batch_norm={str(accurate).lower()}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return {"data": data, "seed": seed, "accurate_batch_norm": accurate, "top1": m["top1"],
            "epochs": m["epoch"], "best_epoch": m["budget"]["best_epoch"],
            "stopped_by": m["budget"]["stopped_by"], "train_time_s": m["train_time_s"]}


def _epochs(r: dict) -> str:
    """``31 (30)``: epochs run (the best one); how the run ended unless by plan."""
    end = "" if r["stopped_by"] == "plan" else f", {r['stopped_by'].replace('_', ' ')}"
    return f"{r['epochs']} ({r['best_epoch']}){end}"


def recipe_table(rows):
    """One line per dataset and seed, the option off and on side by side,
    then per dataset the mean top-1 and the median ratio of the training
    time per epoch (on / off)."""
    pairs = {}
    for r in rows:
        pairs.setdefault((r["data"], r["seed"]), {})[r["accurate_batch_norm"]] = r
    header = ["data", "seed", "top-1", "top-1, accurate BN", "epochs (best)",
              "epochs (best), accurate BN", "train time", "train time, accurate BN",
              "time per epoch, ratio"]
    body, by_data = [], {}
    for (data, seed), p in pairs.items():
        off, on = p[False], p[True]
        # per epoch: a run extended by the budget trains more epochs
        ratio = (on["train_time_s"] / on["epochs"]) / (off["train_time_s"] / off["epochs"])
        by_data.setdefault(data, []).append((off["top1"], on["top1"], ratio))
        body.append([data, seed, f"{100 * off['top1']:.1f}%", f"{100 * on['top1']:.1f}%",
                     _epochs(off), _epochs(on),
                     f"{off['train_time_s']:.0f} s", f"{on['train_time_s']:.0f} s",
                     f"{ratio:.2f}"])
    for data, v in by_data.items():
        body.append([data, "mean / median", f"{100 * statistics.mean(a for a, _, _ in v):.1f}%",
                     f"{100 * statistics.mean(b for _, b, _ in v):.1f}%", "", "", "", "",
                     f"{statistics.median(r for _, _, r in v):.2f}"])
    return header, body


def recipe(seeds, out: str) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="topogcn-bench-numerics-") as workdir:
        for seed in seeds:
            for data in RECIPE_DATA:
                for accurate in ((False, True) if seed % 2 == 0 else (True, False)):
                    rows.append(recipe_run(data, seed, accurate, workdir))
                    r = rows[-1]
                    print(f"{data} seed {seed} accurate_batch_norm={accurate}: top-1 "
                          f"{100 * r['top1']:.2f}%, {r['epochs']} epochs, "
                          f"{r['train_time_s']:.0f} s", flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "recipe": "default (topogcn train, only data.name and seed set)",
            "threads": "the recipe's (trainer.threads: 2)"}
    return save_recipe(out, meta, rows)


def save_recipe(out: str, meta: dict, rows) -> str:
    return results_io.save(out, meta, rows, *recipe_table(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--step-time", type=int, default=0, metavar="N",
                   help="also time N training steps of each network in one process (0: off)")
    p.add_argument("--tables-only", action="store_true",
                   help="rewrite the .md/.csv tables from the JSON of --out")
    p.add_argument("--recipe", type=int, nargs="*", metavar="SEED",
                   help="instead: the default recipe with and without the option, these seeds "
                   "(with --tables-only: rewrite that table)")
    args = p.parse_args()
    if args.recipe is not None:
        out = os.path.join(os.path.dirname(args.out), "bench_numerics_recipe.json")
        if args.tables_only:
            res = results_io.load(out)
            print(save_recipe(out, res["meta"], res["rows"]))
        elif args.recipe:
            print(recipe(args.recipe, out))
        else:
            p.error("--recipe: give the seeds (or --tables-only)")
        return
    if args.tables_only:
        res = results_io.load(args.out)
        print(save(args.out, res["meta"], res["rows"]))
        return
    rows = []
    for seed in args.seeds:
        for kind in KINDS:
            rows.append(measure(seed, kind))
            print("seed %d %-9s " % (seed, kind) + "  ".join(
                f"{c} {rows[-1][c]:.2e}" for c in COLUMNS), flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "model": f"GECN paper size, ntu25, {PERSONS} persons, {CLASSES} classes",
            "batch": BATCH, "frames": FRAMES, "nudges": NUDGES}
    if args.step_time:
        meta["step_time"] = alternate("ntu25", "train", 32, 64, args.step_time, impls=TIMED)
    print(save(args.out, meta, rows))


if __name__ == "__main__":
    main()
