"""Headless figures (matplotlib, Agg backend); every figure is saved with
the numbers behind it, so that it can be re-plotted."""
from __future__ import annotations

import csv
import os
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # no display needed, ever

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from topogcn.skeleton import Skeleton  # noqa: E402
from topogcn.utils.io import atomic_path  # noqa: E402


def _save(fig, path: str, dpi: int = 110) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def write_csv(path: str, header: Sequence[str], rows) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    return path


def plot_tsne(emb: np.ndarray, labels: np.ndarray, classes: Sequence[str], path: str,
              title: str = "t-SNE of the latent space") -> str:
    """Scatter of a 2-D embedding coloured by class, with a legend of class
    names; also writes ``<path>.csv`` (x, y, label, class)."""
    fig, ax = plt.subplots(figsize=(7.5, 6))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for k in np.unique(labels):
        sel = labels == k
        ax.scatter(emb[sel, 0], emb[sel, 1], s=12, color=cmap(int(k) % cmap.N),
                   label=classes[int(k)], alpha=0.85, linewidths=0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False)
    write_csv(os.path.splitext(path)[0] + ".csv", ["x", "y", "label", "class"],
              [(float(a), float(b), int(y), classes[int(y)]) for (a, b), y in zip(emb, labels)])
    return _save(fig, path)


def plot_matrix(matrix: np.ndarray, path: str, title: str, row_names: Sequence[str],
                col_names: Sequence[str], xlabel: str = "", ylabel: str = "",
                cmap: str = "viridis", annotate: bool = False,
                hide_diagonal: bool = False, csv_matrix: Optional[np.ndarray] = None,
                fmt: str = ".0f") -> str:
    """A heatmap with names on the axes (ticks thinned above 40 names); the
    numbers (``csv_matrix`` when given, e.g. counts behind percentages) go
    to ``<path>.csv``.  With ``hide_diagonal`` the diagonal is
    left blank and the colour scale follows the other entries (a learned
    topology's self links, near 1, would otherwise hide every other link);
    the CSV keeps every number."""
    n, m = matrix.shape
    size = min(14, 3 + 0.22 * max(n, m))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    shown = matrix.astype(float).copy()
    kw = {}
    if hide_diagonal and n == m:
        np.fill_diagonal(shown, np.nan)
        off = np.abs(shown[np.isfinite(shown)])
        if off.size and cmap in ("RdBu_r", "RdBu", "coolwarm"):  # symmetric around zero
            v = float(np.percentile(off, 99)) or 1.0
            kw = {"vmin": -v, "vmax": v}
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, aspect="auto", **kw)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    step = max(1, max(n, m) // 40)
    ax.set_xticks(range(0, m, step))
    ax.set_xticklabels([col_names[i] for i in range(0, m, step)], rotation=90, fontsize=6)
    ax.set_yticks(range(0, n, step))
    ax.set_yticklabels([row_names[i] for i in range(0, n, step)], fontsize=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if annotate and n * m <= 400:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, format(matrix[i, j], fmt), ha="center", va="center",
                        fontsize=7, color="w" if matrix[i, j] > matrix.max() / 2 else "k")
    numbers = matrix if csv_matrix is None else csv_matrix
    write_csv(os.path.splitext(path)[0] + ".csv", [""] + list(col_names),
              [[row_names[i]] + [float(v) for v in numbers[i]] for i in range(n)])
    return _save(fig, path)


def plot_curves(rows: Sequence[dict], path: str) -> Optional[str]:
    """Training curves from the rows of a run's ``logs/metrics.csv`` (one
    per epoch, counted from 1): the
    epoch's training and validation loss (left) and training / validation
    top-1 (right), with the best validation epoch (the one ``best.ckpt``
    holds) marked.  :obj:`None` when the log holds no epoch row."""
    def series(key):
        pts = [(int(r["epoch"]), float(r[key])) for r in rows
               if r.get(key) not in (None, "") and r.get("epoch") not in (None, "")]
        return sorted(pts)
    loss = series("train/loss")
    if not loss:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(*zip(*loss), marker="o", ms=3, label="training")
    val_loss = series("val/loss")
    if val_loss:
        a.plot(*zip(*val_loss), marker="o", ms=3, label="validation")
        a.legend(loc="upper right")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    selection = series("val/selection")
    if selection:
        best = max(selection, key=lambda p: (p[1], -p[0]))[0]
        for ax in (a, b):
            ax.axvline(best, color="0.5", ls="--", lw=0.8)
        # at the top of the plot, clear of the legend (lower right)
        b.annotate("best.ckpt", (best, 98), xytext=(-3, 0), textcoords="offset points",
                   fontsize=7, color="0.4", ha="right", va="top")
    for key, label in (("train/top1", "training"), ("val/top1", "validation")):
        pts = series(key)
        if pts:
            b.plot([e for e, _ in pts], [100 * v for _, v in pts], marker="o", ms=3, label=label)
    b.set_xlabel("epoch")
    b.set_ylabel("top-1 (%)")
    b.set_ylim(0, 100)
    b.legend(loc="lower right")
    fig.suptitle("Training curves")
    return _save(fig, path)


def plot_per_class(acc: Sequence[float], classes: Sequence[str], path: str) -> str:
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(classes) + 2), 4))
    ax.bar(range(len(classes)), [100 * a for a in acc], color="tab:blue")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=75, ha="right", fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Per-class accuracy")
    write_csv(os.path.splitext(path)[0] + ".csv", ["class", "accuracy"],
              [(c, float(a)) for c, a in zip(classes, acc)])
    return _save(fig, path)


def label_positions(pos: np.ndarray) -> List[Tuple[float, float, bool]]:
    """Where the joint names go: ``(x, y, right)`` per joint.  Joints right
    of the median x (or on it) are named in a column to the right of the
    skeleton, the others in a column to the left; in each column the names
    keep the joints' vertical order and are pushed down to stay a line
    apart, so that no two names overlap (leader lines join them to their
    joints)."""
    span = float(np.ptp(pos, axis=0).max()) or 1.0
    gap = 0.045 * span
    cx = float(np.median(pos[:, 0]))
    column = {False: float(pos[:, 0].min()) - 0.2 * span,
              True: float(pos[:, 0].max()) + 0.2 * span}
    out: List[Tuple[float, float, bool]] = [(0.0, 0.0, False)] * len(pos)
    for right in (False, True):
        members = [i for i in range(len(pos)) if (pos[i, 0] >= cx) == right]
        previous = float("inf")
        for i in sorted(members, key=lambda k: (-pos[k, 1], k)):
            ty = min(float(pos[i, 1]), previous - gap)
            previous = ty
            out[i] = (column[right], ty, right)
    return out


def _label_joints(ax, names: Sequence[str], pos: np.ndarray) -> None:
    """Joint names in two columns beside the skeleton (see
    :func:`label_positions`), each joined to its joint by a thin line."""
    for name, (x, y), (tx, ty, right) in zip(names, pos, label_positions(pos)):
        ax.annotate(name, (float(x), float(y)), xytext=(tx, ty), textcoords="data",
                    fontsize=6, ha="left" if right else "right", va="center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6",
                                "shrinkA": 1, "shrinkB": 2})


def plot_skeleton(skeleton: Skeleton, pos: np.ndarray, path: str,
                  links: Optional[List[Tuple[int, int, float]]] = None,
                  title: Optional[str] = None, label_joints: Optional[bool] = None) -> str:
    """The joints at ``pos`` ``[V, 2]`` with the bones in grey and, when
    given, ``links`` ``(i, j, weight)`` drawn with width and colour by
    weight; joint names are written for small skeletons.  The links go to
    ``<path>.csv``."""
    fig, ax = plt.subplots(figsize=(6, 6.5))
    for u, v in skeleton.bones:
        ax.plot(pos[[u, v], 0], pos[[u, v], 1], color="0.6", lw=2, zorder=1)
    if links:
        w = np.array([abs(weight) for _, _, weight in links])
        norm = w / (w.max() or 1.0)
        cmap = plt.get_cmap("plasma")
        for (i, j, _), s in zip(links, norm):
            ax.plot(pos[[i, j], 0], pos[[i, j], 1], color=cmap(s), lw=0.5 + 3.5 * s,
                    alpha=0.4 + 0.6 * s, zorder=2)
        scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0.0, float(w.max())))
        fig.colorbar(scale, ax=ax, shrink=0.6, pad=0.02, label="|link weight|")
        write_csv(os.path.splitext(path)[0] + ".csv", ["target", "source", "weight"],
                  [(skeleton.joint_names[i], skeleton.joint_names[j], float(x))
                   for i, j, x in links])
    ax.scatter(pos[:, 0], pos[:, 1], s=18 if skeleton.num_nodes < 60 else 6, color="k",
               zorder=3)
    if label_joints is None:
        label_joints = skeleton.num_nodes <= 30
    if label_joints:
        _label_joints(ax, skeleton.joint_names, pos)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{skeleton.name}: {skeleton.num_nodes} joints, "
                          f"{skeleton.num_bones} bones")
    return _save(fig, path)
