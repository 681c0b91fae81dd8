"""Reproduce the rows of the GE-CN paper's Tables 1-2 on SMG or iMiGUE.

Trains and tests every row (GE-CN, GE-CN without self-attention, ST-GCN)
with the configs of ``benchmarks/configs/``, then writes a markdown table with
the paper's numbers beside the measured ones.  The row ``gecn_spotting``
(topogcn's, no paper number) trains the default spotting recipe (a class for
every frame of the whole recordings, background included; the decoding
chosen on held-out training subjects) and reports spotting precision /
recall / F1 at temporal IoU 0.3 and 0.5 on the test recordings.

    python benchmarks/reproduce.py --dataset smg --root data/SMG
    python benchmarks/reproduce.py --dataset imigue --root data/iMiGUE
    python benchmarks/reproduce.py --dataset smg --smoke     # tiny fixtures, 1 epoch

Full runs are GPU jobs (110 epochs; about 18 hours per SMG row on this
project's 2-core CPU, see docs/benchmarks).  ``--smoke`` runs the same code
path end to end on the tiny format-true fixtures of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from topogcn.datasets import DatasetFormatError  # noqa: E402
from topogcn.engine.config import load_config  # noqa: E402
from topogcn.engine.data import build_dataset  # noqa: E402
from topogcn.engine.inference import evaluate  # noqa: E402
from topogcn.engine.training import train  # noqa: E402
from topogcn.spotting import train_frames  # noqa: E402
from topogcn.utils.io import atomic_write_text  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ("gecn_baseline", "gecn", "stgcn", "gecn_spotting")
ROW_NAMES = {"gecn": "GE-CN", "gecn_baseline": "Baseline (no self-attention)",
             "stgcn": "ST-GCN", "gecn_spotting": "GE-CN spotting (topogcn)"}
#: top-1 / top-5 (%) of the paper, Tables 1 and 2
PAPER = {
    "smg": {"gecn": (64.26, 95.23), "gecn_baseline": (62.89, 94.95), "stgcn": (41.4, 86.07)},
    "imigue": {"gecn": (56.12, 90.01), "gecn_baseline": (53.98, 90.5),
               "stgcn": (46.97, 84.09)},
}
SMOKE_SPOTTING = ["trainer.steps=4", "spotting.crop=16", "spotting.stride=8",
                  "spotting.eval_every=2", "data.val_subjects=1"]
SMOKE = ["trainer.epochs=1", "trainer.progress_bar=false", "data.frames=16",
         "data.batch_size=4", "model.kwargs.channels=[8, 8]", "model.kwargs.strides=[1, 2]",
         "optim.warmup_epochs=0"]


def check_root(dataset: str, root: str) -> None:
    """Stop early, with the expected layout, when the root is not usable."""
    cfg = load_config(os.path.join(HERE, "configs", f"gecn-{dataset}.yaml"),
                      [f"data.root={root}"])
    build_dataset(cfg.data, "test")


def table(dataset: str, results: Dict[str, dict]) -> str:
    best = {"official": "best test epoch", "validation": "best validation epoch"}
    kind = next((best[m["protocol"]] for m in results.values() if m.get("protocol") in best),
                None)
    head = f"| {dataset.upper()} | paper top-1 | top-1, last epoch |"
    rule = "|---|---|---|"
    if kind:
        head += f" top-1, {kind} |"
        rule += "---|"
    spotting = [(row, m) for row, m in results.items() if m.get("method") == "frames"]
    lines = [head + " paper top-5 | top-5, last epoch | epochs |", rule + "---|---|---|"] \
        if len(spotting) < len(results) else []
    for row, m in results.items():
        if m.get("method") == "frames":
            continue
        p1, p5 = PAPER[dataset][row]
        last = m.get("last", m)
        cells = [ROW_NAMES[row], f"{p1:.2f}", f"{100 * last['top1']:.2f}"]
        if kind:
            cells.append(f"{100 * m['best']['top1']:.2f}" if "best" in m else "-")
        cells += [f"{p5:.2f}", f"{100 * last['top5']:.2f}", str(m["epoch"])]
        lines.append("| " + " | ".join(cells) + " |")
    if spotting:
        lines += [""] * bool(lines) + [
            f"| {dataset.upper()} spotting (no paper number) | F1 @ IoU 0.3 | F1 @ IoU 0.5 | "
            f"precision @ 0.5 | recall @ 0.5 | frame accuracy | steps |",
            "|---|---|---|---|---|---|---|"]
        for row, m in spotting:
            s = m["scores"]
            lines.append(f"| {ROW_NAMES[row]} | {100 * s['f1@0.3']:.2f} | "
                         f"{100 * s['f1@0.5']:.2f} | {100 * s['precision@0.5']:.2f} | "
                         f"{100 * s['recall@0.5']:.2f} | {100 * m['frame_accuracy']:.2f} | "
                         f"{m['steps']} |")
    return "\n".join(lines)


def _scores(metrics: dict) -> dict:
    return {"top1": metrics["top1"], "top5": metrics["top5"]}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, choices=sorted(PAPER))
    ap.add_argument("--root", help="the dataset folder (not needed with --smoke)")
    ap.add_argument("--out", help="results folder (default: runs/reproduce-<dataset>)")
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of "
                    f"{','.join(ROWS)}")
    ap.add_argument("--smoke", action="store_true",
                    help="one epoch of a tiny model on generated format-true fixtures")
    ap.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                    help="extra config override for every row")
    ap.add_argument("--protocol", choices=["official", "validation", "last"], default="official",
                    help="which checkpoint besides the last epoch is tested: 'official' validates "
                    "on the test split and reports the best test epoch (the official InfoGCN "
                    "code's protocol, which the paper follows; optimistic), 'validation' holds "
                    "out --val-subjects training subjects and reports the best validation "
                    "epoch, 'last' the last epoch only (default: official)")
    ap.add_argument("--val-subjects", type=int, default=5,
                    help="training subjects held out with --protocol validation (default 5)")
    args = ap.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {','.join(ROWS)}")
    tmp = None
    root = args.root
    if args.smoke and not root:
        from topogcn.datasets.testing import write_imigue_fixture, write_smg_fixture
        tmp = tempfile.mkdtemp(prefix=f"topogcn-{args.dataset}-fixture-")
        root = (write_smg_fixture if args.dataset == "smg" else write_imigue_fixture)(tmp)
    if not root:
        ap.error("--root is required (the folder of the downloaded dataset); see the docs page "
                 "'Datasets' for where SMG and iMiGUE are obtained and the expected layout")
    try:
        check_root(args.dataset, root)
    except (DatasetFormatError, ValueError) as e:
        print(f"reproduce.py: the {args.dataset} root '{root}' is not usable:\n{e}",
              file=sys.stderr)
        return 2
    out = args.out or os.path.join("runs", f"reproduce-{args.dataset}" +
                                   ("-smoke" if args.smoke else ""))
    results = {}
    for row in rows:
        run_dir = os.path.join(out, row)
        if row.endswith("spotting"):  # validated on held-out subjects whatever the protocol
            cfg = load_config(os.path.join(HERE, "configs", f"{row}-{args.dataset}.yaml"),
                              [f"data.root={root}"] + (SMOKE + SMOKE_SPOTTING if args.smoke
                                                       else []) + args.set)
            results[row] = m = dict(train_frames(cfg, run_dir, overwrite=True).metrics)
            print(f"{ROW_NAMES[row]}: F1@0.5 {100 * m['f1@0.5']:.2f}%", flush=True)
            continue
        protocol = {"official": ["data.val_on_test=true"],
                    "validation": [f"data.val_subjects={args.val_subjects}"],
                    "last": []}[args.protocol]
        if args.smoke and args.protocol == "validation":
            protocol = ["data.val_subjects=1"]
        overrides = ([f"data.root={root}"] + (SMOKE if args.smoke else []) + protocol +
                     args.set)
        cfg = load_config(os.path.join(HERE, "configs", f"{row}-{args.dataset}.yaml"),
                          overrides)
        m = dict(train(cfg, run_dir, overwrite=True).metrics)
        ckpts = os.path.join(run_dir, "checkpoints")
        m["protocol"] = args.protocol
        m["last"] = _scores(evaluate(os.path.join(ckpts, "last.ckpt")))
        if args.protocol != "last" and m.get("checkpoint") == "best":
            m["best"] = _scores(evaluate(os.path.join(ckpts, "best.ckpt")))
        results[row] = m
        print(f"{ROW_NAMES[row]}: top-1 {100 * m['last']['top1']:.2f}% (last epoch)"
              + (f", {100 * m['best']['top1']:.2f}% (best {args.protocol} epoch)"
                 if "best" in m else ""), flush=True)
    text = table(args.dataset, results)
    note = ""
    if any(m.get("method") != "frames" for m in results.values()):
        note = ("\n\nThe paper follows the official InfoGCN code, which reports the best test "
                "epoch: compare it with the 'best test epoch' column (--protocol official); the "
                "last-epoch column is the number a model selected without the test labels "
                "gets.\n")
    if args.smoke:
        note += ("\nSmoke run: tiny fixtures and one epoch; the measured numbers say only that "
                 "the path runs.\n")
    atomic_write_text(os.path.join(out, "table.md"), text + note)
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(results, indent=1))
    print(text + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
