import os
import struct

import numpy as np
import pytest

from topogcn.analysis import (
    analyze, extract_latents, joint_positions, learned_topology, mean_attention, silhouette,
    strongest_links, tsne_embedding,
)
from topogcn.analysis import plots
from topogcn.engine import load_run
from topogcn.skeleton import Skeleton, get_skeleton


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_latents_and_tsne_shapes(tiny_checkpoint):
    run = load_run(tiny_checkpoint)
    model, ds = run.model, run.dataset("test")
    lat = extract_latents(model, ds, progress=False)
    assert lat["z"].shape == (len(ds), model.latent_dim)
    assert (lat["labels"] == ds.labels.numpy()).all()
    emb = tsne_embedding(lat["z"])
    assert emb.shape == (len(ds), 2)


def test_silhouette_separated_vs_shuffled():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)) * 10
    labels = np.repeat(np.arange(4), 50)
    z = centers[labels] + rng.normal(size=(200, 16))
    assert silhouette(z, labels) > 0.7
    assert abs(silhouette(z, rng.permutation(labels))) < 0.1
    assert np.isnan(silhouette(z, np.zeros(200, int)))


def test_report_writes_every_figure(tiny_checkpoint, tmp_path):
    out = str(tmp_path / "report")
    rep = analyze(tiny_checkpoint, out, progress=False)
    names = {f.file for f in rep.figures}
    assert {"tsne.png", "tsne_subset.png", "confusion.png", "per_class_accuracy.png",
            "topology_block1.png", "topology_block2.png", "attention_block1.png",
            "skeleton.png", "skeleton_links.png", "curves.png"} <= names
    index = open(rep.index).read()
    for f in rep.figures:
        w, h = png_size(os.path.join(out, f.file))
        assert w > 100 and h > 100
        assert f"src='{f.file}'" in index
        for d in f.data:
            assert os.path.isfile(os.path.join(out, d)), d
    cm = np.loadtxt(os.path.join(out, "confusion.csv"), delimiter=",", skiprows=1,
                    usecols=range(1, 4))
    assert cm.sum() == rep.summary["num_test"] == 6
    tsne = open(os.path.join(out, "tsne.csv")).read().splitlines()
    assert len(tsne) == 1 + 6
    topo = np.load(os.path.join(out, "topology.npz"))
    assert topo["block1"].shape == (3, 25, 25)
    att = np.load(os.path.join(out, "attention.npz"))["block1"]
    assert att.shape == (3, 25, 25)
    assert np.allclose(att.sum(-1), 1, atol=1e-4)  # softmax rows over the complete graph


def test_class_subset_and_unknown_class(tiny_checkpoint, tmp_path):
    classes = load_run(tiny_checkpoint).classes
    rep = analyze(tiny_checkpoint, str(tmp_path / "r2"), classes=[classes[0], classes[2]],
                  progress=False)
    assert rep.summary["tsne_classes"] == [classes[0], classes[2]]
    with pytest.raises(ValueError, match="unknown class 'zzz'"):
        analyze(tiny_checkpoint, str(tmp_path / "r3"), classes=["zzz"], progress=False)


def test_mean_attention_by_class_and_topology(tiny_checkpoint):
    run = load_run(tiny_checkpoint)
    model, ds = run.model, run.dataset("test")
    att = mean_attention(model, ds, by_class=True)
    assert "all" in att and len(att) == 1 + len(set(ds.labels.tolist()))
    topo = learned_topology(model)
    assert len(topo) == 2 and topo[0].shape == (3, 25, 25)
    links = strongest_links(topo, 5)
    assert len(links) <= 5 and all(i != j for i, j, _ in links)
    assert links == sorted(links, key=lambda t: -t[2])


@pytest.mark.parametrize("skeleton", ["ntu25", "openpose137", "five"])
def test_skeleton_pictures_for_any_skeleton(tmp_path, skeleton):
    skel = (Skeleton("five", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1)
            if skeleton == "five" else get_skeleton(skeleton))
    pos = joint_positions(skel)
    assert pos.shape == (skel.num_nodes, 2) and np.ptp(pos[:, 0]) > 0
    path = str(tmp_path / "s.png")
    plots.plot_skeleton(skel, pos, path, links=[(0, 1, 0.5), (1, 2, 1.0)])
    assert png_size(path)[0] > 100
    assert open(str(tmp_path / "s.csv")).read().count("\n") == 3


def test_cli_analyze(tiny_checkpoint, tmp_path, capsys):
    from topogcn.cli import main
    assert main(["analyze", "--checkpoint", tiny_checkpoint, "--out", str(tmp_path / "c")]) == 0
    assert "index.html" in capsys.readouterr().out


def test_joint_names_never_overlap():
    """ntu25's hands hang at hip height: their names and the hips' used to
    collide; the two-column layout keeps every name a line apart."""
    from topogcn.analysis.plots import label_positions
    from topogcn.skeleton import get_skeleton
    from topogcn.skeleton.layout import rest_pose

    for name in ("ntu25", "coco17", "mediapipe_hand21"):
        pos = rest_pose(get_skeleton(name))[:, :2]
        labels = label_positions(pos)
        span = float(np.ptp(pos, axis=0).max())
        for right in (False, True):
            ys = sorted(y for _, y, r in labels if r == right)
            assert all(b - a >= 0.045 * span - 1e-9 for a, b in zip(ys, ys[1:])), name
        xs = {r: {x for x, _, rr in labels if rr == r} for r in (False, True)}
        assert len(xs[False]) <= 1 and len(xs[True]) == 1  # one column per side
        assert max(xs[False] or {-1e9}) < pos[:, 0].min() < pos[:, 0].max() < min(xs[True])


def test_training_curves_mark_the_best_validation_epoch(tmp_path):
    from topogcn.analysis.plots import plot_curves

    rows = []
    for e, (sel, top1) in enumerate([(0.5, 0.5), (0.9, 0.9), (0.8, 0.8)], start=1):
        rows.append({"epoch": str(e), "train/loss": str(2 - e), "train/top1": "0.7",
                     "val/loss": str(1.5 - e / 4), "val/top1": str(top1),
                     "val/selection": str(sel)})
    path = plot_curves(rows, str(tmp_path / "curves.png"))
    assert path and os.path.getsize(path) > 1000
    assert plot_curves([{"epoch": "1"}], str(tmp_path / "none.png")) is None
