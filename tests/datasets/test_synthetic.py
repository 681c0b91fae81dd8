import torch

from topogcn.datasets import SyntheticMicroGestures
from topogcn.skeleton import Skeleton


def test_deterministic_and_split_by_subject():
    a = SyntheticMicroGestures("train", seed=3, num_subjects=6, test_subjects=2,
                               gestures_per_class=2)
    b = SyntheticMicroGestures("train", seed=3, num_subjects=6, test_subjects=2,
                               gestures_per_class=2)
    assert torch.equal(a[5][0], b[5][0]) and a.labels.tolist() == b.labels.tolist()
    c = SyntheticMicroGestures("train", seed=4, num_subjects=6, test_subjects=2,
                               gestures_per_class=2)
    assert not torch.equal(a[5][0], c[5][0])
    test = SyntheticMicroGestures("test", seed=3, num_subjects=6, test_subjects=2,
                                  gestures_per_class=2)
    assert set(a.subjects).isdisjoint(test.subjects)
    assert len(a) == 4 * 10 * 2 and len(test) == 2 * 10 * 2
    assert torch.bincount(a.labels).tolist() == [8] * 10


def test_contract_and_recordings():
    ds = SyntheticMicroGestures("test", num_subjects=4, test_subjects=1, frames=16)
    x, y = ds[0]
    assert x.shape == (1, 16, 25, 3) and x.dtype == torch.float32 and 0 <= y < 10
    assert len(ds.classes) == 10 and ds.skeleton.name == "ntu25"
    recs = list(ds.recordings())
    assert len(recs) == 2 and all(len(r.segments) == 20 for r in recs)
    seg = recs[0].segments[0]
    assert recs[0].data.shape[1] > seg.end and seg.end > seg.start
    info = ds.clips[0]
    assert info.subject == 4 and info.recording.startswith("S004")


def test_gestures_are_localised_on_their_effector():
    ds = SyntheticMicroGestures("train", num_subjects=3, test_subjects=1, frames=None)
    hits = 0
    for i in range(len(ds)):
        x, y = ds[i]
        x = x - x[:, :, ds.skeleton.center:ds.skeleton.center + 1]
        motion = x[0].std(0).norm(dim=-1)
        hits += int(motion.argmax()) == ds.class_templates[y].effector
    assert hits / len(ds) > 0.8


def test_any_skeleton_and_validation_split():
    five = Skeleton("five_syn", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1)
    ds = SyntheticMicroGestures("val", skeleton=five, num_classes=3, num_subjects=6,
                                test_subjects=1, val_subjects=1, frames=8)
    assert ds[0][0].shape == (1, 8, 5, 3) and ds.subjects == [5]
    tr = SyntheticMicroGestures("train", skeleton=five, num_classes=3, num_subjects=6,
                                test_subjects=1, val_subjects=1)
    assert tr.subjects == [1, 2, 3, 4]


def test_recording_design_options_and_the_varied_generator():
    """Per-class lengths, gaps, distractors and posture shifts change the
    recordings as documented; `synthetic-varied` has gestures from about 12
    to 80 frames (with tempo and jitter) and short gaps; bad options are
    refused by name."""
    import numpy as np
    import pytest

    from topogcn.datasets import create_dataset

    small = dict(num_subjects=4, test_subjects=1, gestures_per_class=2)
    varied = create_dataset("synthetic-varied", "train", **small)
    segs = [s for r in varied.recordings() for s in r.segments]
    lengths = np.array([s.end - s.start + 1 for s in segs])
    by_class = [lengths[[s.label == k for s in segs]].mean() for k in range(10)]
    assert min(by_class) < 16 and max(by_class) > 65, by_class
    for r in varied.recordings():
        gaps = [b.start - a.end - 1 for a, b in zip(r.segments, r.segments[1:])]
        assert min(gaps) >= 4 and max(gaps) <= 30, gaps
    plain = SyntheticMicroGestures("train", seed=3, **small)
    assert not torch.equal(plain[0][0], varied[0][0])
    # the default design is one fixed length for every class
    base = [s.end - s.start + 1 for r in plain.recordings() for s in r.segments]
    assert 20 <= min(base) and max(base) <= 45
    for bad, match in ((dict(gesture_frames=[80, 12]), "gesture_frames"),
                       (dict(gap_frames=[0, 3]), "gap_frames"),
                       (dict(distractor_every=0), "distractor_every"),
                       (dict(posture_shifts=-1.0), "posture_shifts")):
        with pytest.raises(ValueError, match=match):
            SyntheticMicroGestures("train", **small, **bad)
