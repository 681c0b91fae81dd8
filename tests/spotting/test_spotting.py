"""Spotting: windows, the streaming spotter, evaluation, and the end-to-end path."""
import json
import os

import numpy as np
import pytest
import torch

from topogcn.datasets import SyntheticMicroGestures
from topogcn.io import Segment
from topogcn.spotting import (
    BACKGROUND, Detection, Spotter, SpottingWindows, smg_online_scores, spotting_scores,
    temporal_iou, temporal_nms,
)

CLASSES = ["a", "b", BACKGROUND]


class OracleModel(torch.nn.Module):
    """Reads the class off channel 0 of joint 0 (the mean over the window):
    value k in 1..K means class k-1, 0 background.  Independent of the
    spotter's code."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.K1 = num_classes

    def forward(self, x):  # [N, M, T, V, C]
        code = x[:, 0, :, 0, 0]  # [N, T]
        logits = torch.full((x.size(0), self.K1), -10.0)
        for n in range(x.size(0)):
            vals, counts = code[n].round().long().unique(return_counts=True)
            for v, c in zip(vals.tolist(), counts.tolist()):
                k = v - 1 if v > 0 else self.K1 - 1
                logits[n, k] = max(float(logits[n, k]), 10.0 * c / code.size(1))
        return logits


def stream(T, segments):
    """A [1, T, 2, 3] recording whose joint 0 encodes the ground truth."""
    x = torch.zeros(1, T, 2, 3)
    for label, s, e in segments:
        x[0, s:e + 1, 0, 0] = label + 1
    return x


def test_temporal_iou_and_nms():
    assert temporal_iou(0, 9, 0, 9) == 1.0
    assert temporal_iou(0, 9, 10, 19) == 0.0
    assert temporal_iou(0, 9, 5, 14) == pytest.approx(5 / 15)
    dets = [Detection(0, 10, 0, 0.9), Detection(2, 12, 1, 0.6), Detection(20, 30, 1, 0.7)]
    kept = temporal_nms(dets, 0.3)
    assert [(d.start, d.label) for d in kept] == [(0, 0), (20, 1)]


def test_spotter_finds_oracle_segments_and_streaming_equals_offline():
    segs = [(0, 20, 45), (1, 80, 110), (0, 150, 170)]
    x = stream(200, segs)
    sp = Spotter(OracleModel(), CLASSES, length=16, stride=4, min_length=4)
    offline = sp.spot(x)
    assert [(d.label, d.name) for d in offline] == [(0, "a"), (1, "b"), (0, "a")]
    for d, (label, s, e) in zip(offline, segs):
        assert temporal_iou(d.start, d.end, s, e) > 0.6, (d, s, e)
    for chunks in ([1] * 200, [7, 13, 50, 1, 129], [200]):
        sp.reset()
        got, pos = [], 0
        for n in chunks:
            got += sp.push(x[:, pos:pos + n])
            pos += n
        got += sp.flush()
        assert got == offline, chunks
    # bounded memory: the buffer never holds more than one window
    sp.reset()
    for t in range(200):
        sp.push(x[:, t])
        assert sp._buf.size(1) <= 16
    sp.flush()


class SeesWholeGesture(torch.nn.Module):
    """A classifier like a trained one: it names a gesture once it sees most
    of it (70% of its frames; channel 1 of joint 0 holds the gesture's
    length), else background.  Independent of the spotter's code."""

    def forward(self, x):  # [N, M, T, V, C]
        code, length = x[:, 0, :, 0, 0], x[:, 0, :, 0, 1]
        logits = torch.full((x.size(0), 3), -10.0)
        for n in range(x.size(0)):
            inside = code[n] > 0
            seen = int(inside.sum())
            k = 2
            if seen and seen >= 0.7 * float(length[n][inside].max()):
                k = int(code[n][inside][0].round()) - 1
            logits[n, k] = 10.0
        return logits


def test_centre_weighting_localises_short_gestures():
    """A 16-frame gesture in 32-frame windows: every window holding it says
    so, so the plain mean spreads it over the windows (temporal IoU down to
    0.5); the centre-weighted mean keeps it nearer its frames."""
    x = torch.zeros(1, 300, 2, 3)
    segs = [(0, 60, 75), (1, 150, 165), (0, 240, 255)]
    for label, s, e in segs:
        x[0, s:e + 1, 0, 0] = label + 1
        x[0, s:e + 1, 0, 1] = e - s + 1
    ious = {}
    for weighting in ("uniform", "triangle"):
        sp = Spotter(SeesWholeGesture(), CLASSES, length=32, stride=4, weighting=weighting)
        dets = sp.spot(x)
        assert [d.label for d in dets] == [0, 1, 0], weighting
        ious[weighting] = [temporal_iou(d.start, d.end, s, e) for d, (_, s, e) in zip(dets, segs)]
    assert all(t > u for t, u in zip(ious["triangle"], ious["uniform"])), ious
    assert min(ious["uniform"]) <= 0.5 < min(ious["triangle"]), ious
    with pytest.raises(ValueError, match="weighting"):
        Spotter(SeesWholeGesture(), CLASSES, length=32, weighting="gaussian")


def test_last_window_of_a_stream_only_adds_to_frames_not_final():
    """The window that flush adds to cover the last frames starts before
    frames already finalised: it must leave those alone (it crashed with
    weights, and with the plain mean added its probabilities to wrong
    rows)."""
    x = stream(45, [(0, 10, 30), (1, 36, 44)])
    for weighting in ("uniform", "triangle"):
        sp = Spotter(OracleModel(), CLASSES, length=16, stride=4, weighting=weighting)
        dets = sp.spot(x)
        assert [d.label for d in dets] == [0, 1], weighting
        assert dets[-1].end == 44
        sp.reset()
        assert sum((sp.push(x[:, t:t + 1]) for t in range(45)), []) + sp.flush() == dets


def test_spotter_short_and_bad_input():
    sp = Spotter(OracleModel(), CLASSES, length=32, stride=4, min_length=2)
    short = stream(10, [(1, 0, 9)])
    dets = sp.spot(short)  # shorter than one window: one window of everything
    assert [(d.start, d.end, d.label) for d in dets] == [(0, 9, 1)]
    bad = stream(40, [])
    bad[0, 17, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="frame 17 has NaN"):
        sp.spot(bad)
    sp.reset()
    sp.push(stream(5, []))
    with pytest.raises(ValueError, match="do not match the stream"):
        sp.push(torch.zeros(1, 3, 4, 3))
    with pytest.raises(ValueError, match="trained with a last 'background' class"):
        Spotter(OracleModel(), ["a", "b"], length=8)
    assert Spotter(OracleModel(), CLASSES, length=8).flush() == []


def test_spotting_scores():
    gt = [Segment(0, 10, 20), Segment(1, 40, 60)]
    dets = [Detection(12, 22, 0, 0.9), Detection(40, 50, 1, 0.8), Detection(70, 80, 1, 0.5)]
    s = spotting_scores([(dets, gt)])
    # IoU 9/13 = 0.69 and 11/21 = 0.52: both correct at 0.5; the third is a false positive
    assert s["precision@0.5"] == pytest.approx(2 / 3) and s["recall@0.5"] == 1.0
    assert s["f1@0.5"] == pytest.approx(0.8)
    wrong_class = [Detection(10, 20, 1, 0.9)]
    assert spotting_scores([(wrong_class, gt)])["f1@0.3"] == 0.0
    dup = [Detection(10, 20, 0, 0.9), Detection(11, 20, 0, 0.8)]  # one segment, matched once
    assert spotting_scores([(dup, gt[:1])])["precision@0.5"] == 0.5


def smg_reference(recordings, threshold=0.3):
    """The SMG authors' tester_SMG loop, transcribed: per labelled gesture,
    the first prediction of its label whose overlap ratio exceeds the
    threshold counts it correct (the code's deletions are discarded, so
    predictions are never used up); totals over all recordings."""
    correct, n_gt, n_pred = 0.0, 0, 0
    for pred_label, begin, end, gestures in recordings:
        for gt_label, gt_begin, gt_end in gestures:
            for i in range(len(begin)):
                if pred_label[i] == gt_label:
                    a = (min(end[i], gt_end) - max(begin[i], gt_begin)) / \
                        (max(end[i], gt_end) - min(begin[i], gt_begin))
                    if a > threshold:
                        correct += 1
                        break
        n_gt += len(gestures)
        n_pred += len(begin)
    recall, precision = correct / n_gt, correct / n_pred
    return precision, recall, 2 * recall * precision / (recall + precision + 0.0000001)


def test_smg_online_scores_equal_the_authors_loop():
    rng = np.random.default_rng(0)
    recordings, ours = [], []
    for _ in range(20):
        gts = [(int(rng.integers(3)), int(b), int(b + rng.integers(10, 40)))
               for b in sorted(rng.choice(400, 6, replace=False))]
        preds = [(int(rng.integers(3)), int(b), int(b + rng.integers(10, 40)))
                 for b in sorted(rng.choice(400, int(rng.integers(1, 9)), replace=False))]
        recordings.append(([p[0] for p in preds], [p[1] for p in preds], [p[2] for p in preds],
                           gts))
        ours.append(([Detection(b, e, c, 1.0) for c, b, e in preds],
                     [Segment(c, b, e) for c, b, e in gts]))
    p, r, f1 = smg_reference(recordings)
    s = smg_online_scores(ours)
    assert (s["smg_precision"], s["smg_recall"], s["smg_f1"]) == pytest.approx((p, r, f1),
                                                                              abs=1e-15)
    assert 0 < s["smg_f1"] < 1


def test_smg_online_scores_by_hand():
    gt = [Segment(0, 10, 20), Segment(0, 22, 30)]
    one = [Detection(12, 28, 0, 1.0)]  # overlaps 8/10 and 6/18: one detection, both segments
    s = smg_online_scores([(one, gt)])
    assert s["smg_recall"] == 1.0 and s["smg_precision"] == 2.0  # as the authors' code counts
    exact = [Detection(10, 13, 0, 1.0)]  # 3/10 = 0.3 is not above 0.3
    assert smg_online_scores([(exact, gt[:1])])["smg_recall"] == 0.0
    assert smg_online_scores([([Detection(10, 20, 1, 1.0)], gt)])["smg_f1"] == 0.0
    assert smg_online_scores([([], [])])["smg_f1"] == 0.0


def test_windows_labels():
    ds = SyntheticMicroGestures("test", num_classes=3, num_subjects=4, test_subjects=1,
                                gestures_per_class=2, frames=16)
    win = SpottingWindows(ds, length=32, stride=8, min_iou=0.5, background_ratio=1.0,
                          background_iou=0.2)
    assert win.classes == ds.classes + [BACKGROUND] and win.background_label == 3
    recs = list(ds.recordings())
    n_pos = 0
    for (r, s, e, y) in win._clips.tolist():
        assert e - s + 1 == 32
        ious = [temporal_iou(s, e, g.start, g.end) for g in recs[r].segments]
        if y == 3:
            assert max(ious) < 0.2
        else:
            n_pos += 1
            best = int(np.argmax(ious))
            assert ious[best] >= 0.5 and recs[r].segments[best].label == y
    n_bg = len(win) - n_pos
    assert n_pos > 0 and 0 < n_bg <= n_pos
    x, y = win[0]
    assert x.shape == (1, 16, 25, 3)
    assert len(list(win.recordings())) == len(recs)
    with pytest.raises(ValueError, match=r"no window of 4 frames.*segments are \d+-\d+ frames"):
        SpottingWindows(ds, length=4, stride=2)


@pytest.mark.slow
def test_spotting_end_to_end_on_synthetic(tmp_path, capsys):
    """The packaged spotting config as it is (the frame-level recipe, 1500
    steps, 6-10 minutes on 2 cores; in CI's slow job) trains a detector that
    finds the test gestures: F1 >= 0.90 at IoU 0.5, above its linear frame
    baseline, and `topogcn spot` scores the checkpoint as training did."""
    from topogcn.cli import main
    out = tmp_path / "run"
    assert main(["train", "--config", "synthetic-spotting", "--out", str(out),
                 "--set", "trainer.progress_bar=false"]) == 0
    ckpt = str(out / "checkpoints" / "best.ckpt")
    capsys.readouterr()
    assert main(["spot", "--checkpoint", ckpt, "--out", str(tmp_path / "d.json")]) == 0
    text = capsys.readouterr().out
    from topogcn.spotting import spot_split
    res = spot_split(ckpt)
    m = json.loads((out / "metrics.json").read_text())
    assert res["scores"]["f1@0.5"] == m["scores"]["f1@0.5"]
    assert res["scores"]["f1@0.5"] >= 0.90, (res["scores"], text)
    assert res["scores"]["f1@0.5"] > m["baselines"]["linear_frames"]["f1@0.5"]
    assert json.loads((tmp_path / "d.json").read_text()).keys() == res["detections"].keys()
    assert os.path.getsize(tmp_path / "d.json") > 0


def test_spot_cli_on_files_short_zero_and_bad(tmp_path, capsys):
    """`topogcn spot FILE_OR_DIR`: a recording shorter than one window and one
    with zero (undetected) joints give results; a NaN names the file and the
    frame, exits with 2 and writes no output file."""
    import numpy as np

    from tests.engine.conftest import TINY
    from topogcn.cli import main
    from topogcn.engine import train
    from topogcn.engine.config import load_config

    run = str(tmp_path / "run")
    train(load_config("synthetic-spotting-windows", TINY + [
        "data.window=24", "data.window_stride=8", "trainer.epochs=1"]), run)
    ckpt = os.path.join(run, "checkpoints", "best.ckpt")
    good = tmp_path / "good"
    good.mkdir()
    rng = np.random.default_rng(0)
    np.save(good / "short.npy", rng.normal(size=(5, 25, 3)).astype(np.float32))
    zeros = rng.normal(size=(40, 25, 3)).astype(np.float32)
    zeros[10:20] = 0.0  # no person detected
    np.save(good / "zeros.npy", zeros)
    out = tmp_path / "d.csv"
    capsys.readouterr()
    assert main(["spot", "--checkpoint", ckpt, str(good), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "short.npy" in text and "zeros.npy" in text and out.is_file()

    bad = rng.normal(size=(30, 25, 3)).astype(np.float32)
    bad[21, 3, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    out2 = tmp_path / "bad.json"
    assert main(["spot", "--checkpoint", ckpt, str(tmp_path / "bad.npy"),
                 "--out", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "frame 21" in err
    assert not out2.exists()


class SplitBetweenTwo(torch.nn.Module):
    """Gesture frames (joint 0, channel 0 > 0) get 45% 'a', 40% 'b', 15%
    background: no class reaches 0.5."""

    def forward(self, x):
        inside = (x[:, 0, :, 0, 0] > 0).float().mean(1, keepdim=True)  # [N, 1]
        probs = inside * torch.tensor([0.45, 0.40, 0.15]) + (1 - inside) * torch.tensor(
            [0.01, 0.01, 0.98])
        return probs.log()


def test_most_probable_class_decides_by_default():
    x = stream(120, [(0, 40, 80)])
    found = Spotter(SplitBetweenTwo(), CLASSES, length=16, stride=4).spot(x)
    assert [d.label for d in found] == [0]
    assert temporal_iou(found[0].start, found[0].end, 40, 80) > 0.6
    assert Spotter(SplitBetweenTwo(), CLASSES, length=16, stride=4, threshold=0.5).spot(x) == []


class AutocastProbe(OracleModel):
    """The oracle, recording the modes it is called in."""

    def __init__(self):
        super().__init__()
        self.modes = set()

    def forward(self, x):
        enabled = torch.is_autocast_enabled("cpu")
        self.modes.add((torch.is_inference_mode_enabled(),
                        torch.get_autocast_dtype("cpu") if enabled else None))
        return super().forward(x)


@pytest.mark.parametrize("precision, dtype", [("32", None), ("bf16", torch.bfloat16)])
def test_spotter_runs_the_model_under_inference_mode_and_its_precision(precision, dtype):
    x = stream(120, [(0, 20, 45), (1, 70, 100)])
    spotter = Spotter(AutocastProbe(), CLASSES, length=16, stride=4, precision=precision)
    found = spotter.spot(x)
    assert found == Spotter(OracleModel(), CLASSES, length=16, stride=4).spot(x)
    assert spotter.model.modes == {(True, dtype)}  # (the spotter's inference copy)
    with pytest.raises(ValueError, match="precision"):
        Spotter(OracleModel(), CLASSES, length=16, precision="16")
