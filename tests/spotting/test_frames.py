"""Frame-level spotting: the frame spotter through Spotter, decoding,
streaming, the crop sampler and a short training run end to end."""
import json
import os

import pytest
import torch
import torch.nn.functional as F

from topogcn.io import Segment
from topogcn.spotting import BACKGROUND, Spotter, spotting_scores, temporal_iou
from topogcn.spotting.frame_training import CropSampler, choose_decoding, frame_labels
from topogcn.spotting.spotter import decode_frame_probabilities

CLASSES = ["a", "b", BACKGROUND]


class FrameOracle(torch.nn.Module):
    """Per-frame logits read off joint 0, channel 0 of each frame (k in 1..K:
    class k-1, 0: background), with a little noise: a frame classifier
    independent of the spotter's code."""

    def __init__(self, noise=0.0, stride=1):
        super().__init__()
        self.noise, self.stride = noise, stride

    def forward(self, x):  # [N, M, T, V, C] -> [N, 3, T']
        code = x[:, 0, ::self.stride, 0, 0].round().long()  # [N, T']
        target = torch.where(code > 0, code - 1, torch.full_like(code, 2))
        logits = 8.0 * F.one_hot(target, 3).float().transpose(1, 2)
        g = torch.Generator().manual_seed(int(x.size(2)))
        return logits + self.noise * torch.randn(logits.shape, generator=g)


def stream(T, segments):
    x = torch.zeros(1, T, 2, 3)
    for label, s, e in segments:
        x[0, s:e + 1, 0, 0] = label + 1
    return x


SEGS = [(0, 20, 45), (1, 60, 64), (0, 90, 170), (1, 185, 199)]


def test_frame_model_outputs_are_per_frame_and_streaming_equals_offline():
    """A frame classifier spotted with 32-frame windows finds short (5
    frames) and long (81 frames) gestures exactly; any chunking of the stream
    gives the same detections, smoothed or not."""
    x = stream(200, SEGS)
    for smoothing in (1, 5):
        sp = Spotter(FrameOracle(), CLASSES, length=32, stride=8, min_length=2,
                     smoothing=smoothing)
        offline = sp.spot(x)
        assert [(d.label, d.start, d.end) for d in offline] == [
            (label, s, e) for label, s, e in SEGS], (smoothing, offline)
        for chunks in ([1] * 200, [7, 13, 50, 1, 129], [33, 167]):
            got, pos = [], 0
            for n in chunks:
                got += sp.push(x[:, pos:pos + n])
                pos += n
            got += sp.flush()
            assert got == offline, (smoothing, chunks)


def test_strided_frame_outputs_are_resampled_to_the_window():
    """A model whose output has half the frames (a temporal stride) is
    resampled back: the segments are found within a frame."""
    x = stream(200, SEGS)
    dets = Spotter(FrameOracle(stride=2), CLASSES, length=32, stride=8, min_length=2).spot(x)
    assert len(dets) == len(SEGS)
    for d, (label, s, e) in zip(dets, SEGS):
        assert d.label == label and abs(d.start - s) <= 1 and abs(d.end - e) <= 1, (d, s, e)


def test_frame_probabilities_are_what_spot_decodes():
    x = stream(200, SEGS)
    sp = Spotter(FrameOracle(noise=3.0), CLASSES, length=32, stride=8, min_length=3,
                 smoothing=5)
    probs = sp.frame_probabilities(x)
    assert probs.shape == (200, 3)
    assert torch.allclose(probs.sum(1), torch.ones(200), atol=1e-5)
    assert decode_frame_probabilities(probs, CLASSES, 5, 3) == sp.spot(x)
    # shorter than one window: one window of the whole recording
    assert sp.frame_probabilities(x[:, :10]).shape == (10, 3)


def test_smoothing_removes_flicker_and_decoding_is_chosen_on_validation():
    """Noisy frame probabilities split gestures into fragments; the decoding
    chosen by F1 on these recordings smooths them away."""
    torch.manual_seed(0)
    recs = []
    for r in range(3):
        segs = [Segment(r % 2, 20, 60), Segment(1 - r % 2, 100, 150)]
        y = frame_labels(segs, 180, 2)
        logits = 3.0 * F.one_hot(y, 3).float() + 2.0 * torch.randn(180, 3)
        recs.append((torch.softmax(logits, 1), segs))
    raw = spotting_scores([(decode_frame_probabilities(p, CLASSES, 1, 1), s)
                           for p, s in recs])["f1@0.5"]
    decoding, f1 = choose_decoding(recs, CLASSES, [1, 5, 9, 15], [1, 4, 8])
    assert f1 > raw + 0.3 and f1 >= 0.9, (raw, f1, decoding)
    assert decoding["smoothing"] > 1
    again = spotting_scores([(decode_frame_probabilities(p, CLASSES, **decoding), s)
                             for p, s in recs])["f1@0.5"]
    assert again == f1


def test_frame_labels_and_crops():
    y = frame_labels([Segment(0, 2, 4), Segment(1, 6, 6)], 9, 2)
    assert y.tolist() == [2, 2, 0, 0, 0, 2, 1, 2, 2]
    x = torch.arange(300, dtype=torch.float32).view(1, 300, 1, 1).expand(1, 300, 2, 3)
    yy = (torch.arange(300) // 100).long()
    from topogcn.transforms import resize_frames

    def resize(c):
        return resize_frames(c, 50)

    sampler = CropSampler([(x, yy)], crop=50, speed=(0.5, 2.0), transform=resize, seed=3)
    xb, yb = sampler.batch(7, 4)
    assert xb.shape == (4, 1, 50, 2, 3) and yb.shape == (4, 50)
    # the labels follow the resampled frames: the frame index says the label
    assert torch.equal(yb, (xb[:, 0, :, 0, 0].round() // 100).long())
    # a batch is a function of (seed, step) only
    torch.manual_seed(123)
    xb2, yb2 = CropSampler([(x, yy)], 50, (0.5, 2.0), resize, 3).batch(7, 4)
    assert torch.equal(xb, xb2) and torch.equal(yb, yb2)
    assert not torch.equal(sampler.batch(8, 4)[0], xb)


TINY_FRAMES = [
    "data.batch_size=4", "data.center=per_frame",
    "data.options={num_subjects: 5, test_subjects: 1, gestures_per_class: 2, num_classes: 3}",
    "model.kwargs={channels: [8, 8], strides: [1, 2]}", "spotting.crop=32", "spotting.stride=16",
    "spotting.eval_every=3", "spotting.smoothing=[1, 3]", "spotting.min_length=[2, 4]",
    "trainer.steps=6", "trainer.progress_bar=false", "trainer.threads=1",
]


def test_frame_run_end_to_end_is_reproducible_and_spotted_alike(tmp_path, capsys):
    """`topogcn train --config synthetic-spotting` (tiny): a sealed
    checkpoint that `topogcn spot` loads with the decoding chosen on the
    validation split and scores as training did; the same seed gives the
    same weights; a bad combination is refused."""
    from topogcn.cli import main
    from topogcn.engine import Run
    from topogcn.engine.config import ConfigError, load_config
    from topogcn.engine.training import train
    from topogcn.spotting import train_frames

    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", "--config", "synthetic-spotting", "--out", str(out), "--set",
                     *TINY_FRAMES]) == 0
        runs.append(out)
    text = capsys.readouterr().out
    assert "frame-level spotter" in text and "linear baseline" in text
    m = json.loads((runs[0] / "metrics.json").read_text())
    assert m["method"] == "frames" and m["classes"][-1] == BACKGROUND
    assert m["budget"]["steps_run"] == 6 and m["budget"]["best_step"] in (3, 6)
    assert m["decoding"]["smoothing"] in (1, 3) and m["decoding"]["min_length"] in (2, 4)
    assert "f1@0.5" in m["baselines"]["linear_frames"]
    log = (runs[0] / "logs" / "metrics.csv").read_text().splitlines()
    assert log[0] == "step,lr,train/loss,val/f1@0.5" and len(log) == 3
    a = torch.load(runs[0] / "checkpoints" / "best.ckpt", weights_only=True)
    b = torch.load(runs[1] / "checkpoints" / "best.ckpt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    run = Run.load(str(runs[0] / "checkpoints" / "best.ckpt"))
    assert run.decoding == m["decoding"]
    capsys.readouterr()
    assert main(["spot", "--checkpoint", str(runs[0] / "checkpoints" / "best.ckpt")]) == 0
    spot_text = capsys.readouterr().out
    f1 = m["scores"]["f1@0.5"]
    assert f"F1 {100 * f1:.1f}%" in spot_text.split("IoU 0.5")[1].splitlines()[0]
    with pytest.raises(ConfigError, match="data.window"):
        train_frames(load_config("synthetic-spotting", TINY_FRAMES + ["data.window=16"]),
                     str(tmp_path / "c"))
    assert not os.path.exists(tmp_path / "c")
    with pytest.raises(ConfigError, match="train_frames"):
        train(load_config(str(runs[0] / "config.yaml")), str(tmp_path / "d"))
    assert main(["train", "--out", str(runs[0]), "--resume"]) == 2
    assert "cannot be resumed" in capsys.readouterr().err


def test_frame_model_shapes_and_gradients():
    from topogcn.models import FrameSpottingGECN

    torch.manual_seed(0)
    m = FrameSpottingGECN(4, "ntu25", in_channels=3, num_person=2, channels=[8, 16],
                          strides=[1, 2])
    x = torch.randn(2, 2, 21, 25, 3, requires_grad=True)
    out = m(x)
    assert out.shape == (2, 4, 21)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="background"):
        FrameSpottingGECN(1, "ntu25")
    with pytest.raises(ValueError, match="head_kernel"):
        FrameSpottingGECN(3, "ntu25", head_kernel=4)
    assert "FrameSpottingGECN(num_classes=4" in repr(m)


def test_gecn_frame_features_pool_to_the_clip_features():
    """GE-CN's frame features, averaged over time, are its pooled features."""
    from topogcn.models import GECN

    torch.manual_seed(0)
    m = GECN(5, "ntu25", num_person=2, channels=[8, 16], strides=[1, 2]).double().eval()
    x = torch.randn(3, 2, 12, 25, 3, dtype=torch.float64)
    f = m.frame_features(x)
    assert f.shape == (3, 16, 6)
    assert torch.allclose(f.mean(-1), m.features(x), atol=1e-12)


def test_oracle_detection_iou():
    x = stream(200, SEGS)
    dets = Spotter(FrameOracle(noise=1.0), CLASSES, length=64, stride=16, min_length=2,
                   smoothing=3).spot(x)
    for d, (label, s, e) in zip(dets, SEGS):
        assert d.label == label and temporal_iou(d.start, d.end, s, e) > 0.8


def test_clip_commands_refuse_a_frame_spotter_by_name(tmp_path, capsys):
    """eval, predict, analyze and export need a clip classifier: a frame
    spotter's checkpoint is refused with a message naming it and `topogcn
    spot` (exit 2), nothing written."""
    import numpy as np

    from topogcn.cli import main

    out = tmp_path / "run"
    assert main(["train", "--config", "synthetic-spotting", "--out", str(out), "--set",
                 *TINY_FRAMES, "trainer.steps=1", "trainer.baselines=false"]) == 0
    ckpt = str(out / "checkpoints" / "best.ckpt")
    np.save(tmp_path / "clip.npy", np.zeros((10, 25, 3), np.float32))
    for argv in (["eval", "--checkpoint", ckpt],
                 ["predict", "--checkpoint", ckpt, str(tmp_path / "clip.npy")],
                 ["analyze", "--checkpoint", ckpt, "--out", str(tmp_path / "an")],
                 ["export", "--checkpoint", ckpt, "--out", str(tmp_path / "m.pt")]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "frame-level spotter" in err and "topogcn spot" in err, (argv, err)
    assert not (tmp_path / "an").exists() and not (tmp_path / "m.pt").exists()


def test_frame_run_time_limit_stops_loudly_at_a_validation(tmp_path, capsys):
    """trainer.max_minutes stops a frame run at a validation, says so and
    records it; the plan is not reshaped (the steps run are a multiple of
    spotting.eval_every)."""
    from topogcn.cli import main

    out = tmp_path / "run"
    assert main(["train", "--config", "synthetic-spotting", "--out", str(out), "--set",
                 *TINY_FRAMES, "trainer.max_minutes=0.0001", "trainer.baselines=false"]) == 0
    text = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["budget"]["stopped_by"] == "time_limit" and m["budget"]["steps_run"] == 3
    capsys.readouterr()
    assert main(["train", "--config", "synthetic-spotting", "--out", str(tmp_path / "p"),
                 "--set", *TINY_FRAMES, "trainer.steps=1", "trainer.baselines=false",
                 "trainer.precision=bf16-mixed"]) == 0
    assert "trainer.precision='bf16-mixed' not applied" in capsys.readouterr().out
    assert "stopped by the 0.0001-minute limit after 3 of 6 steps: not the recipe's result" \
        in text
