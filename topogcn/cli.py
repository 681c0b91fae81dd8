"""The ``topogcn`` command line: a thin layer over the library.

Each sub-command parses its arguments here and calls one library function;
configuration lives in typed dataclasses and YAML files
(:mod:`topogcn.engine.config`), not in argument parsing.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from typing import List, Optional


def _cmd_skeletons(args: argparse.Namespace) -> int:
    from topogcn.skeleton import skeleton_summary

    rows = skeleton_summary()
    print(f"{'name':<20} {'joints':>6} {'bones':>6}  {'centre':<14} aliases")
    for r in rows:
        print(f"{r['name']:<20} {r['num_nodes']:>6} {r['num_bones']:>6}  {r['center']:<14} "
              f"{', '.join(r['aliases'])}")
    return 0


DEFAULT_CONFIG = "synthetic"


def positive_int(text: str) -> int:
    """An argument that must be a whole number of at least 1 (at most 10^6)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 10 ** 6:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 1000000, got {value}")
    return value


def fraction(text: str) -> float:
    """An argument that must be a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def packaged_configs() -> List[str]:
    """The names of the packaged configs (``topogcn/configs/*.yaml``), read
    from the folder without importing the engine."""
    folder = os.path.join(os.path.dirname(os.path.realpath(__file__)), "configs")
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
    return [DEFAULT_CONFIG] + [n for n in names if n != DEFAULT_CONFIG]


#: extra ``--set`` overrides for every command that builds a configuration,
#: applied after the command's own (smoke tests, CI: a tiny budget)
OVERRIDES_ENV = "TOPOGCN_SET"


def _overrides(args: argparse.Namespace) -> List[str]:
    """The command's ``--set`` values, then those of :data:`OVERRIDES_ENV`."""
    extra = shlex.split(os.environ.get(OVERRIDES_ENV, ""))
    if extra:
        print(f"topogcn: {OVERRIDES_ENV} adds --set {' '.join(extra)}", file=sys.stderr)
    return list(getattr(args, "set", None) or []) + extra


def _config(args: argparse.Namespace):
    from topogcn.engine.config import load_config

    return load_config(getattr(args, "config", None) or DEFAULT_CONFIG, _overrides(args))


def _run(args: argparse.Namespace):
    """The trained run of ``--checkpoint``, loaded once (verified unless
    ``--allow-unverified``)."""
    from topogcn.engine.trained_run import Run

    if getattr(args, "_run", None) is None:
        args._run = Run.load(args.checkpoint, allow_unverified=args.allow_unverified)
    return args._run


def _run_config(args: argparse.Namespace):
    """The configuration of a command on a trained run: ``--config`` (with
    the overrides), or the checkpoint's own with the overrides, or None (the
    checkpoint's own, unchanged)."""
    from topogcn.engine.config import apply_override, parse_override

    if args.config:
        return _config(args)
    overrides = _overrides(args)
    if not overrides:
        return None
    cfg = _run(args).config
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(cfg, keys, value, text)
    return cfg


def _print_table(rows) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def _cmd_config(args: argparse.Namespace) -> int:
    from topogcn.engine.config import load_config
    from topogcn.engine.task import effective_lr

    cfg = load_config(args.name, _overrides(args))
    o = cfg.optim
    scaling = (f"x {cfg.data.batch_size}/{o.base_batch_size}" if o.lr_scaling == "linear"
               else "not scaled")
    print(f"# topogcn config {args.name}: the fully resolved configuration")
    print(f"# effective learning rate {effective_lr(o, cfg.data.batch_size):g} at batch "
          f"{cfg.data.batch_size} (optim.lr {o.lr:g}, {scaling}); latent noise ratio "
          f"{cfg.model.kwargs.get('noise_ratio', 'the model default')}")
    print(cfg.dump(), end="")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import time

    from topogcn.engine.config import load_config
    from topogcn.engine.training import train

    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR, the run to continue")
        if args.config or args.set:
            raise ValueError("--resume continues the run in --out with its own config.yaml; "
                             "--config and --set cannot change it (start a new run in another "
                             "--out to train with other settings)")
        path = os.path.join(args.out, "config.yaml")
        if not os.path.isfile(path):
            raise ValueError(f"--resume: '{args.out}' has no config.yaml (is it a topogcn run "
                             f"folder?)")
        cfg = load_config(path)
    else:
        cfg = _config(args)
    out = args.out or os.path.join("runs", f"{cfg.data.name}-{cfg.model.name}-"
                                           f"{time.strftime('%Y%m%d-%H%M%S')}")
    if cfg.spotting.method == "frames":
        from topogcn.spotting import train_frames

        if args.resume:
            raise ValueError("--resume: a frame-spotting run (spotting.method=frames) cannot "
                             "be resumed; start it again (it is seeded: the same result)")
        return _print_frame_run(cfg, train_frames(cfg, out, args.overwrite).metrics, out)
    result = train(cfg, out, resume=args.resume, overwrite=args.overwrite)
    m = result.metrics
    print(f"\ntopogcn train: {cfg.model.name} on {cfg.data.name} finished")
    rows = [("test top-1", f"{100 * m['top1']:.2f}%"), _mean_class_row(m)]
    base = m.get("baselines") or {}
    if base.get("linear") is not None:
        rows.append(("linear baseline", f"{100 * base['linear']:.2f}% (logistic regression on "
                                        f"the same clips; chance {100 * base['chance']:.2f}%)"))
    budget = m["budget"]
    best = budget["best_epoch"]
    epochs = f"{m['epoch']}"
    if budget["stopped_by"] == "early_stopping":
        epochs += f" of {budget['epochs_final_plan']} (early stopping)"
    rows += [("test top-5", f"{100 * m['top5']:.2f}%"), ("test clips", m["num_test"]),
             ("epochs", epochs),
             ("checkpoint", m["checkpoint"] + (f" (epoch {best}, best validation)"
                                               if m["checkpoint"] == "best" and best is not None
                                               else "")),
             ("train time", f"{m['train_time_s']:.1f} s"), ("run folder", out)]
    _print_table(rows)
    _time_limit_note(budget, f"{m['epoch']} of {budget['epochs_final_plan']} planned epochs")
    return 0


def _time_limit_note(budget: dict, done: str) -> None:
    """The closing line of a run the time limit stopped (``done``: how far
    it got)."""
    if budget["stopped_by"] == "time_limit":
        print(f"\nstopped by the {budget['max_minutes']:g}-minute limit after {done}: not the "
              f"recipe's result (trainer.max_minutes)")


def _spotting_rows(s: dict) -> list:
    rows = [(f"IoU {t}", f"precision {100 * s[f'precision@{t}']:.1f}%  recall "
             f"{100 * s[f'recall@{t}']:.1f}%  F1 {100 * s[f'f1@{t}']:.1f}%")
            for t in ("0.3", "0.5")]
    rows.append(("SMG online F1", f"precision {100 * s['smg_precision']:.1f}%  recall "
                 f"{100 * s['smg_recall']:.1f}%  F1 {100 * s['smg_f1']:.1f}% (the SMG "
                 f"authors' rule, overlap > 0.3)"))
    rows.append(("counts", f"{int(s['detections'])} detections, {int(s['segments'])} "
                 f"labelled segments"))
    return rows


def _print_frame_run(cfg, m: dict, out: str) -> int:
    """What ``topogcn train`` prints after a frame-spotting run."""
    print(f"\ntopogcn train: frame-level spotter on {cfg.data.name} finished "
          f"({m['num_test']} test recordings)")
    rows = _spotting_rows(m["scores"])
    rows.append(("frame accuracy", f"{100 * m['frame_accuracy']:.2f}%"))
    base = (m.get("baselines") or {}).get("linear_frames")
    if base:
        rows.append(("linear baseline", f"F1 {100 * base['f1@0.5']:.1f}% at IoU 0.5 (logistic "
                                        f"regression per frame, decoded alike)"))
    budget = m["budget"]
    best = budget["best_step"]
    rows += [("decoding", f"smoothing {m['decoding']['smoothing']}, min length "
                          f"{m['decoding']['min_length']}"
              + (" (chosen on the validation recordings)" if best else "")),
             ("steps", f"{budget['steps_run']}" + (f" (best validation at step {best})"
                                                    if best else "")),
             ("train time", f"{m['train_time_s']:.1f} s"), ("run folder", out)]
    _print_table(rows)
    _time_limit_note(budget, f"{budget['steps_run']} of {budget['steps']} steps")
    return 0


def _mean_class_row(m: dict) -> tuple:
    """The mean of the per-class accuracies (what long-tailed benchmarks
    report beside top-1), saying when some classes have no test clip."""
    per_class = m["per_class_accuracy"].values()
    seen, mean = sum(a is not None for a in per_class), m["mean_class_accuracy"]
    if mean is None:
        return ("mean class accuracy", "-")
    note = f" ({seen} of {len(per_class)} classes have test clips)" \
        if seen < len(per_class) else ""
    return ("mean class accuracy", f"{100 * mean:.2f}%{note}")


def _cmd_eval(args: argparse.Namespace) -> int:
    from topogcn.engine.inference import evaluate

    m = evaluate(_run(args), _run_config(args), args.out)
    print(f"topogcn eval: {args.checkpoint}")
    _print_table([("test top-1", f"{100 * m['top1']:.2f}%"), _mean_class_row(m),
                  ("test top-5", f"{100 * m['top5']:.2f}%"),
                  ("test clips", m["num_test"])]
                 + ([("written to", m["out"])] if "out" in m else []))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    from topogcn.engine.inference import predict

    result = predict(_run(args), args.file, args.top_k)
    if args.json:
        print(json.dumps(result))
        return 0
    for row in result["top"]:
        print(f"{row['probability']:8.4f}  {row['class']}")
    return 0


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from topogcn.engine.inference import ensemble

    try:
        weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    except ValueError:
        raise ValueError(f"--weights {args.weights}: expected comma-separated numbers") from None
    res = ensemble(args.runs, weights)
    rows = [(run, f"top-1 {100 * r['top1']:.2f}%  top-5 {100 * r['top5']:.2f}%")
            for run, r in res["runs"].items()]
    f = res["fused"]
    rows.append(("fused", f"top-1 {100 * f['top1']:.2f}%  top-5 {100 * f['top5']:.2f}%"))
    print(f"topogcn ensemble of {len(args.runs)} runs ({res['num_test']} test clips)")
    _print_table(rows)
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from topogcn.analysis import analyze

    cfg = _run_config(args)
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    report = analyze(_run(args), args.out, cfg=cfg, classes=classes,
                     max_samples=args.max_samples)
    s = report.summary
    print(f"topogcn analyze: {len(report.figures)} figures in {args.out}")
    _print_table([("test top-1", f"{100 * s['top1']:.2f}%"),
                  ("silhouette of z", f"{s['silhouette_z']:.3f}"),
                  ("report", report.index)])
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from topogcn.datasets.convert import CONVERTERS, run_converter
    from topogcn.io.folder import CLASSES_FILE, CHANNELS_FILE, LABELS_FILE, SKELETON_FILE

    if args.list or not args.source:
        print("converters (topogcn convert --from NAME --root DIR --out DIR):")
        _print_table([(e.name, e.description + ("" if e.source == "topogcn" else
                                                f" [{e.source}]"))
                      for e in CONVERTERS.entries()])
        return 0 if args.list else 2
    if not args.root or not args.out:
        raise ValueError("--from needs --root (the source) and --out (the new folder)")
    joints = [j.strip() for j in args.joints.split(",")] if args.joints else None
    joints = [int(j) if j.isdigit() else j for j in joints] if joints else None
    options = {k: v for k, v in (("labels", args.labels), ("skeleton", args.skeleton),
                                 ("max_persons", args.max_persons), ("joints", joints),
                                 ("benchmark", args.benchmark),
                                 ("missing_list", args.missing_list),
                                 ("missing", args.missing), ("train_split", args.train_split),
                                 ("test_split", args.test_split)) if v is not None}
    out = run_converter(args.source, args.root, args.out, **options)
    with open(os.path.join(out, LABELS_FILE), encoding="utf-8") as f:
        n = sum(1 for _ in f) - 1
    files = sum(1 for f in os.listdir(out) if f.endswith(".npy"))
    extra = [f for f in (CLASSES_FILE, SKELETON_FILE, CHANNELS_FILE)
             if os.path.isfile(os.path.join(out, f))]
    print(f"topogcn convert: {files} recordings, {n} labelled clips of {args.source} written "
          f"to {out} ({LABELS_FILE}, {', '.join(extra)})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from topogcn.engine.export import export_model

    meta = export_model(_run(args), args.out, args.format, check=not args.no_check,
                        tolerance=args.tolerance)
    shape = "x".join(str(s) for s in meta["input"]["shape"])
    print(f"topogcn export: {args.format} model for raw clips {shape} "
          f"({', '.join(meta['input']['channels'])}) written to {args.out} (+ {args.out}.json)")
    if "check" in meta:
        c = meta["check"]
        print(f"  checked against the float64 model on clips of {c['clip_lengths']} frames: "
              f"max |probability difference| {c['max_abs_prob_diff']:.1e}, max relative logit "
              f"difference {c['max_rel_logit_diff']:.1e} (allowed {c['allowed']:.1e}; "
              f"PyTorch float32: {c['torch_float32_prob_diff']:.1e}, "
              f"{c['torch_float32_rel_logit_diff']:.1e})")
    return 0


def _cmd_spot(args: argparse.Namespace) -> int:
    from topogcn.spotting import spot_files, spot_split, write_detections

    from topogcn.utils.io import check_not_an_input

    if args.out and (os.path.isdir(args.out) or not args.out.lower().endswith((".json", ".csv"))):
        raise ValueError(f"--out {args.out}: give a file name ending in .json or .csv (the "
                         f"detections are written there)")
    if args.out:
        check_not_an_input(args.out, list(args.inputs) + [args.checkpoint])
    kw = {k: v for k, v in (("threshold", args.threshold), ("stride", args.stride),
                            ("min_length", args.min_length), ("precision", args.precision))
          if v is not None}
    if args.inputs:
        detections = spot_files(_run(args), args.inputs, **kw)
        for rec, dets in detections.items():
            print(f"{rec}: {len(dets)} micro-gestures")
            for d in dets:
                print(f"  frames {d.start:6d}-{d.end:6d}  {d.name:24s} {d.score:.3f}")
    else:
        res = spot_split(_run(args), args.split, **kw)
        detections = res["detections"]
        s = res["scores"]
        print(f"topogcn spot: {len(detections)} recordings of the {args.split} split, "
              f"{res['frames']} frames in {res['seconds']:.1f} s "
              f"({res['frames'] / max(res['seconds'], 1e-9):.0f} frames/s)")
        _print_table(_spotting_rows(s))
    if args.out:
        write_detections(detections, args.out)
        print(f"detections written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from topogcn import __version__

    parser = argparse.ArgumentParser(
        prog="topogcn", description="Topology-adaptive micro-gesture recognition (GE-CN).")
    parser.add_argument("--version", action="version", version=f"topogcn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("skeletons", help="list the registered skeleton topologies")
    p.set_defaults(func=_cmd_skeletons)

    packaged = ", ".join(packaged_configs())

    def checkpoint_args(p: argparse.ArgumentParser,
                        what: str = "a checkpoint written by topogcn train") -> None:
        p.add_argument("--checkpoint", required=True, help=what)
        p.add_argument("--allow-unverified", action="store_true",
                       help="load a checkpoint that has no integrity record (not written by "
                       "topogcn train, or edited): its content cannot be checked")

    def config_args(p: argparse.ArgumentParser, default: str = "default: synthetic") -> None:
        p.add_argument("--config", help=f"YAML file or packaged config name ({packaged}); "
                       f"{default}")
        p.add_argument("--set", action="extend", nargs="+", metavar="KEY=VALUE",
                       help="override keys, e.g. --set optim.lr=0.05 trainer.epochs=5 "
                            "(repeatable)")

    p = sub.add_parser("config", help="print the fully resolved configuration as YAML")
    p.add_argument("name", nargs="?", default=DEFAULT_CONFIG, metavar="NAME_OR_FILE",
                   help="YAML file or packaged config name (default: synthetic)")
    p.add_argument("--set", action="extend", nargs="+", metavar="KEY=VALUE",
                   help="override keys, e.g. --set optim.lr=0.05")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("train", help="train and test a model (default: GE-CN on synthetic data)")
    config_args(p)
    p.add_argument("--out", help="run folder (default: runs/<data>-<model>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="test a checkpoint")
    checkpoint_args(p)
    config_args(p, "default: the checkpoint's own configuration (--set overrides it)")
    p.add_argument("--out", help="write metrics.json and scores.npz here (into OUT/eval-test "
                   "when OUT is a training run folder)")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="classify one skeleton sequence file")
    checkpoint_args(p)
    p.add_argument("file", help="raw clip: .npy/.npz [T,V,C] or [M,T,V,C] (any T), or a CSV "
                   "of frames (one row per frame, V*C values, joint-major)")
    p.add_argument("--top-k", type=positive_int, default=5, help="how many classes to print")
    p.add_argument("--json", action="store_true", help="print one JSON object: file, classes, "
                   "probabilities (one per class, model order), top")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("analyze", help="figures of a trained model and an HTML report")
    checkpoint_args(p)
    config_args(p, "default: the checkpoint's own configuration")
    p.add_argument("--classes", help="comma-separated class names (or indices) for the "
                   "subset t-SNE (default: the first four)")
    p.add_argument("--max-samples", type=positive_int, help="at most this many test clips")
    p.add_argument("--out", required=True, help="folder for the figures and index.html")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("convert", help="write a dataset in the generic SkeletonFolder format")
    p.add_argument("--from", dest="source", metavar="SOURCE",
                   help="a registered converter: smg, imigue, openpose-json, mediapipe-csv, "
                   "coco-json, pyskl, ntu, or a plugin's (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the registered converters")
    p.add_argument("--root", help="the source dataset folder (pyskl: the annotation pickle)")
    p.add_argument("--out", help="output folder (new or empty)")
    p.add_argument("--labels", help="label table for openpose-json / mediapipe-csv / "
                   "coco-json: CSV with file,label[,start_frame,end_frame,subject,split]")
    p.add_argument("--skeleton",
                   help="openpose-json: openpose25 or openpose137 (default: openpose137 if the "
                   "files have face/hand keypoints); mediapipe-csv: mediapipe33, "
                   "mediapipe_hand21 or mediapipe_holistic75 (default: read from the header); "
                   "pyskl: any skeleton (default: from the keypoint count, 25 -> ntu25, "
                   "17 -> coco17)")
    p.add_argument("--max-persons", type=positive_int,
                   help="openpose-json, coco-json: persons kept, best scores first (default: "
                   "1); ntu: bodies kept, most present first (default: 2)")
    p.add_argument("--benchmark", choices=["xsub", "xview", "xsub120", "xset120"],
                   help="ntu: the official split (xsub, the default, and xview: NTU-60, "
                   "actions 1-60; xsub120, xset120: NTU-120)")
    p.add_argument("--missing-list", help="ntu: the release's list of samples with missing "
                   "skeletons (left out)")
    p.add_argument("--missing", choices=["zeros", "interpolate"],
                   help="frames without a detection (openpose-json, mediapipe-csv, coco-json; "
                   "default: zeros)")
    p.add_argument("--joints", help="comma-separated joint indices, joint or part names")
    p.add_argument("--train-split", help="pyskl: the split of the training clips (default: "
                   "xsub_train, else train)")
    p.add_argument("--test-split", help="pyskl: the split of the test clips (default: "
                   "xsub_val, else val or test)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("export", help="export a trained classifier to ONNX or TorchScript")
    checkpoint_args(p)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, help="output file (.onnx / .pt)")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing the exported model with PyTorch")
    p.add_argument("--tolerance", type=fraction, default=1e-4,
                   help="largest probability / relative logit difference to the float64 model "
                   "accepted (or 10x PyTorch's own float32 difference, if larger); above it "
                   "nothing is written and the exit code is 2 (default 1e-4)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("spot", help="find micro-gestures in long recordings (a run trained "
                       "with data.window)")
    checkpoint_args(p, "a checkpoint of a run trained with data.window (spotting)")
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_DIR",
                   help="sequence files (.npy/.npz/.csv) or folders; none: the run's --split, "
                   "scored against its labels")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="without FILE_OR_DIR: the split of the run's dataset to spot and score "
                   "(default: test)")
    p.add_argument("--out", help="write the detections (.json or .csv)")
    p.add_argument("--threshold", type=fraction, help="class probability of a detected frame "
                   "(default: none, the most probable class, background included)")
    p.add_argument("--stride", type=positive_int,
                   help="frames between windows (default: the run's)")
    p.add_argument("--min-length", type=positive_int,
                   help="shortest detection in frames (default 4)")
    p.add_argument("--precision", choices=["32", "bf16"],
                   help="run the model in float32 (default) or bfloat16 autocast (faster on "
                   "CPUs with bfloat16 instructions)")
    p.set_defaults(func=_cmd_spot)

    p = sub.add_parser("ensemble", help="fuse the test scores of runs (joint/bone/motion)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--weights", help="comma-separated weights, one per run")
    p.set_defaults(func=_cmd_ensemble)
    return parser


def _quiet_libraries() -> None:
    """The command line prints what a user needs: not Lightning's tips and
    device banner, nor library deprecation notices."""
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (its import sets its loggers to INFO)

    for name in ("lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # a resumed run's checkpoint folder holds its checkpoints, as it should
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "skeletons":
        _quiet_libraries()
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit a write fails (OSError), not all
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError) as e:  # OSError: permissions, disk space, ...
        print(f"topogcn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
