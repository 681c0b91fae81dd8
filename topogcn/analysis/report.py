"""``topogcn analyze``: every figure of a trained run and an HTML report."""
from __future__ import annotations

import csv
import html
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import numpy as np

from topogcn.analysis import plots
from topogcn.analysis.latent import extract_latents, silhouette, tsne_embedding
from topogcn.analysis.topology import (
    joint_positions, learned_topology, mean_attention, strongest_links,
)
from topogcn.engine.trained_run import Run
from topogcn.engine.training import class_accuracies
from topogcn.utils.io import atomic_path, atomic_write_text


@dataclass
class Figure:
    file: str
    caption: str
    data: List[str] = field(default_factory=list)


@dataclass
class Report:
    out_dir: str
    figures: List[Figure]
    summary: dict

    @property
    def index(self) -> str:
        return os.path.join(self.out_dir, "index.html")


def _savez(path: str, **arrays) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def _resolve_classes(names: Optional[Sequence[str]], classes: Sequence[str],
                     present: np.ndarray) -> List[int]:
    if not names:
        return [int(c) for c in sorted(set(present.tolist()))[:4]]
    out = []
    for n in names:
        if n in classes:
            out.append(classes.index(n))
        elif str(n).isdigit() and int(n) < len(classes):
            out.append(int(n))
        else:
            raise ValueError(f"--classes: unknown class {n!r}; classes: {', '.join(classes)}")
    return out


def analyze(checkpoint: Union[str, Run], out: str, cfg=None,
            classes: Optional[Sequence[str]] = None, max_samples: Optional[int] = None,
            attention_samples: int = 128, progress: bool = True, seed: int = 0) -> Report:
    """Write the figures of a trained checkpoint on its test split into
    ``out``: t-SNE of the latent codes (all classes and a subset of
    ``classes``, default the first four, as the paper's figures 2-3) with
    their silhouette score, confusion matrix, per-class accuracy, the learned
    shared topology and the mean attention of every block, the skeleton and
    its strongest learned links, ``summary.json`` and ``index.html``.  Every
    figure has its numbers beside it (CSV/NPZ)."""
    run = Run.of(checkpoint)
    run.require_clip_classifier("the analysis report")
    model = run.model
    dataset = run.dataset("test", cfg)
    names = run.classes
    skeleton = run.skeleton
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731
    figs: List[Figure] = []

    lat = extract_latents(model, dataset, max_samples=max_samples, progress=progress)
    z, y, pred = lat["z"], lat["labels"], lat["preds"]
    _savez(p("latents.npz"), z=z, labels=y, preds=pred, scores=lat["scores"])
    sil = silhouette(z, y)
    emb = tsne_embedding(z, seed=seed)
    plots.plot_tsne(emb, y, names, p("tsne.png"),
                    f"t-SNE of z, all {len(np.unique(y))} classes (silhouette of z: {sil:.2f})")
    figs.append(Figure("tsne.png", f"t-SNE of the latent codes z of {len(z)} test clips, "
                       f"coloured by class; silhouette score of z by class: {sil:.3f}.",
                       ["tsne.csv", "latents.npz"]))
    chosen = _resolve_classes(classes, names, y)
    sel = np.isin(y, chosen)
    if sel.sum() >= 3:
        sub_emb = tsne_embedding(z[sel], seed=seed)
        plots.plot_tsne(sub_emb, y[sel], names, p("tsne_subset.png"),
                        f"t-SNE of z, {len(chosen)} classes")
        figs.append(Figure("tsne_subset.png", "t-SNE of the latent codes of the classes "
                           + ", ".join(names[c] for c in chosen) + ".", ["tsne_subset.csv"]))

    K = len(names)
    cm = np.zeros((K, K), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    rows = cm.sum(axis=1, keepdims=True)
    pct = 100 * cm / np.maximum(rows, 1)
    plots.plot_matrix(pct, p("confusion.png"), "Confusion matrix (test, % of each true class)",
                      names, names, xlabel="predicted", ylabel="true", cmap="Blues",
                      annotate=True, csv_matrix=cm)
    figs.append(Figure("confusion.png", f"Confusion matrix on {len(y)} test clips (rows: true "
                       "class, columns: prediction), in per cent of each true class; the "
                       "counts are in confusion.csv.", ["confusion.csv"]))
    per_class = [float("nan") if a is None else a for a in class_accuracies(cm)[0]]
    plots.plot_per_class(per_class, names, p("per_class_accuracy.png"))
    figs.append(Figure("per_class_accuracy.png", "Test accuracy of every class.",
                       ["per_class_accuracy.csv"]))

    joints = list(skeleton.joint_names)
    topo = learned_topology(model)
    if topo:
        _savez(p("topology.npz"), **{f"block{b + 1}": t for b, t in enumerate(topo)})
        for b, t in enumerate(topo):
            fname = f"topology_block{b + 1}.png"
            plots.plot_matrix(t.mean(0), p(fname), f"Learned shared topology, block {b + 1} "
                              f"(mean of {t.shape[0]} heads)", joints, joints,
                              xlabel="source joint", ylabel="target joint", cmap="RdBu_r",
                              hide_diagonal=True)
            figs.append(Figure(fname, f"Learned topology Ä of block {b + 1}, averaged over its "
                               "heads (all heads in topology.npz); the diagonal (self links, "
                               "about 1) is left blank so that the colour scale shows the "
                               "learned links between joints.",
                               [fname.replace(".png", ".csv"), "topology.npz"]))
    att = mean_attention(model, dataset, max_samples=attention_samples, by_class=True)
    if att:
        _savez(p("attention.npz"), **{f"block{b + 1}": a for b, a in enumerate(att["all"])})
        _savez(p("attention_by_class.npz"),
               **{f"class{k}_block{b + 1}": a for k, maps in att.items() if k != "all"
                  for b, a in enumerate(maps)})
        for b, a in enumerate(att["all"]):
            fname = f"attention_block{b + 1}.png"
            plots.plot_matrix(a.mean(0), p(fname), f"Mean attention, block {b + 1}",
                              joints, joints, xlabel="source joint", ylabel="target joint")
            figs.append(Figure(fname, f"Self-attention α of block {b + 1} averaged over test "
                               "clips, frames and heads (per head and per class in the NPZ).",
                               [fname.replace(".png", ".csv"), "attention.npz",
                                "attention_by_class.npz"]))

    pos = joint_positions(skeleton, dataset)
    plots.plot_skeleton(skeleton, pos, p("skeleton.png"))
    figs.append(Figure("skeleton.png", f"The skeleton '{skeleton.name}' with its bones, at the "
                       "mean pose of the test clips."))
    links = strongest_links(topo, top_k=max(10, min(40, skeleton.num_nodes)))
    if links:
        plots.plot_skeleton(skeleton, pos, p("skeleton_links.png"), links=links,
                            title="Strongest learned links (|Ä|, mean over blocks and heads)")
        figs.append(Figure("skeleton_links.png", f"The {len(links)} strongest off-diagonal "
                           "links of the learned topologies drawn on the skeleton (width and "
                           "colour by weight).", ["skeleton_links.csv"]))

    log = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(run.name))), "logs",
                       "metrics.csv")
    if os.path.isfile(log):
        with open(log, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if plots.plot_curves(rows, p("curves.png")):
            figs.insert(0, Figure("curves.png", "Training loss, training and validation top-1 "
                                  "per epoch (from the run's logs/metrics.csv).",
                                  [os.path.relpath(log, out)]))

    # relative to the report: the folder can be moved or shared
    summary = {"checkpoint": os.path.relpath(run.name, out), "num_test": int(len(y)),
               "top1": float((pred == y).mean()), "silhouette_z": sil,
               "tsne_classes": [names[c] for c in chosen],
               "figures": [f.file for f in figs]}
    atomic_write_text(p("summary.json"), json.dumps(summary, indent=1))
    report = Report(out, figs, summary)
    atomic_write_text(report.index, render_html(report, skeleton.name))
    return report


def render_html(report: Report, skeleton_name: str) -> str:
    s = report.summary
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>topogcn analysis</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;}"
        "figure{margin:2em 0;}img{max-width:100%;border:1px solid #ddd;}"
        "figcaption{color:#333;}</style></head><body>",
        "<h1>What the model learned</h1>",
        f"<p>Checkpoint <code>{html.escape(s['checkpoint'])}</code>, skeleton "
        f"<code>{html.escape(skeleton_name)}</code>: top-1 {100 * s['top1']:.2f}% on "
        f"{s['num_test']} test clips; silhouette score of the latent codes by class "
        f"{s['silhouette_z']:.3f}.</p>",
    ]
    for f in report.figures:
        data = ", ".join(f"<a href='{html.escape(d)}'>{html.escape(d)}</a>" for d in f.data)
        parts.append(f"<figure><img src='{html.escape(f.file)}' alt='{html.escape(f.file)}'>"
                     f"<figcaption>{html.escape(f.caption)}"
                     + (f" Numbers: {data}." if data else "") + "</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
